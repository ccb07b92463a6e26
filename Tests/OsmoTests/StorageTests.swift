import FoundationEssentials
import Glibc
import OsmoCore
import OsmoData
import OsmoSystem
import Testing

// Storage as the platform configures it (issue 11 §1, §2, §5). The expectations come from the
// reference (NVIDIA/OSMO at 1da31e19e, `src/lib/data/storage/`), cited per row as
// `file:line`; what boto3 does with the reference's client settings is checked against the
// installed botocore itself (`addressingAgreesWithBoto3`).

/// One storage URL taken apart: `backends.py` `*Backend.create` and `profile`.
struct URLShape: Sendable, CustomStringConvertible {
    var text: String
    var profile: String
    var account = ""
    var namespace = ""
    var bucket: String
    var key: String
    var from: String
    var description: String { text }
}

/// One addressing case: a URL, what its credential says, the environment, and the request base
/// and signing region the reference's boto3 client ends up with.
struct AddressingCase: Sendable, CustomStringConvertible {
    var url: String
    var overrideURL: String? = nil
    var style: S3AddressingStyle? = nil
    var region: String? = nil
    var environment: [String: String] = [:]
    /// `$AWS_ENDPOINT_URL`, as `DataCredentials` hands it over for s3 (no override_url).
    var environmentEndpoint: String? = nil
    var base: String
    var signingRegion: String
    var from: String
    var description: String { "\(url) \(overrideURL ?? "-") \(style?.rawValue ?? "-") \(environment) → \(base)" }
}

@Suite struct StorageAddressingTests {
    static let shapes: [URLShape] = [
        URLShape(text: "s3://bkt/a/b.txt", profile: "s3://bkt", bucket: "bkt", key: "a/b.txt", from: "backends.py:436-441,454"),
        URLShape(text: "gs://bkt", profile: "gs://bkt", bucket: "bkt", key: "", from: "backends.py:669-674,687"),
        URLShape(text: "tos://tos-s3-cn-beijing.volces.com/bkt/p/q", profile: "tos://tos-s3-cn-beijing.volces.com/bkt",
                 account: "tos-s3-cn-beijing.volces.com", bucket: "bkt", key: "p/q", from: "backends.py:793-800,813"),
        URLShape(text: "swift://swift.example.com/AUTH_team/cont/p/q.bin", profile: "swift://swift.example.com/AUTH_team",
                 account: "swift.example.com", namespace: "AUTH_team", bucket: "cont", key: "p/q.bin", from: "backends.py:266-275,288"),
        URLShape(text: "azure://acct/cont/p", profile: "azure://acct", account: "acct", bucket: "cont", key: "p", from: "backends.py:912-921,934"),
    ]

    @Test(arguments: shapes)
    func urlShapesAndProfiles(_ shape: URLShape) throws {
        let url = try DataURL(shape.text)
        #expect(url.profile == shape.profile, "\(shape.from)")
        #expect(url.account == shape.account, "\(shape.from)")
        #expect(url.namespace == shape.namespace, "\(shape.from)")
        #expect(url.bucket == shape.bucket, "\(shape.from)")
        #expect(url.key == shape.key, "\(shape.from)")
    }

    /// `src/lib/api/storage.py` L23–27: a swift URL names host, namespace and container; tos
    /// and azure at least two components.
    @Test(arguments: ["swift://host/AUTH_ns", "swift://host/AUTH_ns/", "tos://host", "azure://acct"])
    func incompleteURLsAreRefused(_ text: String) {
        #expect(throws: OsmoError.self) { try DataURL(text) }
    }

    /// A credential's `endpoint` and a profile key are storage URIs (`storage.py` L35–46
    /// `STORAGE_CREDENTIAL_REGEX`); each names one profile.
    @Test(arguments: [
        ("s3://bkt", "s3://bkt"), ("s3://bkt/", "s3://bkt"), ("s3://osmo/workflows", "s3://osmo"),
        ("gs://bkt/x", "gs://bkt"), ("tos://h/bkt/p", "tos://h/bkt"), ("swift://h/AUTH_ns", "swift://h/AUTH_ns"),
        ("swift://h/AUTH_ns/cont/p", "swift://h/AUTH_ns"), ("azure://acct/cont", "azure://acct"),
        ("swift://h", nil), ("tos://h", nil), ("http://minio:9000", nil), ("https://s3.amazonaws.com/bkt", nil),
        ("s3://a,b", nil), ("s3://", nil), ("ftp://h/x", nil),
    ] as [(String, String?)])
    func storageURIsNameTheirProfile(_ text: String, _ profile: String?) {
        #expect(DataURL.storageProfile(of: text) == profile, "\(text)")
    }

    /// Layer 1, the `addressing_style` the reference gives boto3 (`backends/s3.py`
    /// `_get_boto_config` L169–179 and `_get_s3_addressing_style` L143–154).
    @Test(arguments: [
        // scheme, credential style, $OSMO_S3_ADDRESSING_STYLE, $AWS_S3_FORCE_PATH_STYLE, override_url?, expected, where
        (DataURL.Scheme.s3, nil, nil, nil, true, S3AddressingStyle.virtual, "L152-154: custom endpoint → virtual"),
        (.s3, nil, nil, nil, false, nil, "L152-153: AWS → boto3's default"),
        (.s3, .path, "virtual", "true", true, .path, "L143-144: the credential first"),
        (.s3, nil, "  PATH ", nil, true, .path, "L147-149, L109: trimmed and lowercased"),
        (.s3, nil, "auto", "true", true, .auto, "L147-151: OSMO_S3_ADDRESSING_STYLE before AWS_S3_FORCE_PATH_STYLE"),
        (.s3, nil, "", nil, true, .virtual, "L148: an empty variable is unset"),
        (.s3, nil, nil, "true", true, .path, "L150-151"),
        (.s3, nil, nil, "TRUE", false, .path, "L150: lowercased"),
        (.s3, nil, nil, "1", false, .path, "L150"),
        (.s3, nil, nil, "yes", true, .virtual, "L150: only true and 1"),
        (.gs, nil, "virtual", "true", true, nil, "L145-146: the variables are s3's only"),
        (.gs, .virtual, nil, nil, true, .virtual, "L143-144: the credential for every scheme"),
        (.swift, nil, "virtual", nil, true, nil, "L145-146"),
        (.tos, .path, "path", "true", true, .virtual, "L169-171: TOS only supports virtual-hosted style"),
    ] as [(DataURL.Scheme, S3AddressingStyle?, String?, String?, Bool, S3AddressingStyle?, String)])
    func configuredStyleFollowsTheReference(_ scheme: DataURL.Scheme, _ credential: S3AddressingStyle?, _ osmo: String?,
                                            _ force: String?, _ override: Bool, _ expected: S3AddressingStyle?, _ from: String) throws {
        var environment: [String: String] = [:]
        if let osmo { environment["OSMO_S3_ADDRESSING_STYLE"] = osmo }
        if let force { environment["AWS_S3_FORCE_PATH_STYLE"] = force }
        let style = try S3Addressing.configuredStyle(scheme, overrideURL: override ? "http://minio.local:9000" : nil,
                                                     credentialStyle: credential, environment: environment)
        #expect(style == expected, "\(from)")
    }

    /// s3.py L100–116: a typo in the variable is an error naming it, not silently dropped.
    @Test func aBadAddressingVariableIsAnError() throws {
        let error = try #require(throws: OsmoError.self) {
            try S3Addressing.configuredStyle(.s3, overrideURL: nil, credentialStyle: nil, environment: ["OSMO_S3_ADDRESSING_STYLE": "sideways"])
        }
        #expect(error.code == .invalidInput)
        #expect(error.message.contains("OSMO_S3_ADDRESSING_STYLE") && error.message.contains("sideways") && error.message.contains("virtual, path, auto"))
    }

    static let cases: [AddressingCase] = [
        // s3 with an override_url: virtual unless asked (s3.py L152-154), boto3 then builds the URL.
        AddressingCase(url: "s3://bkt/k", overrideURL: "http://minio.local:9000", base: "http://bkt.minio.local:9000",
                       signingRegion: "us-east-1", from: "s3.py:152-154; constants.py:70"),
        AddressingCase(url: "s3://bkt/k", overrideURL: "http://minio.local:9000", style: .path, base: "http://minio.local:9000/bkt",
                       signingRegion: "us-east-1", from: "s3.py:143-144; backends.py:495-498"),
        AddressingCase(url: "s3://bkt/k", overrideURL: "http://minio.local:9000", style: .auto, base: "http://minio.local:9000/bkt",
                       signingRegion: "us-east-1", from: "botocore args.py: with an endpoint anything but virtual is path"),
        AddressingCase(url: "s3://bkt/k", overrideURL: "http://minio.local:9000/", environment: ["OSMO_S3_ADDRESSING_STYLE": "path"],
                       base: "http://minio.local:9000/bkt", signingRegion: "us-east-1", from: "s3.py:147-149"),
        AddressingCase(url: "s3://bkt/k", overrideURL: "http://minio.local:9000", environment: ["AWS_S3_FORCE_PATH_STYLE": "true"],
                       base: "http://minio.local:9000/bkt", signingRegion: "us-east-1", from: "s3.py:150-151"),
        AddressingCase(url: "s3://bkt/k", overrideURL: "https://gateway.example.com/s3/", region: "eu-west-1",
                       base: "https://bkt.gateway.example.com/s3", signingRegion: "eu-west-1", from: "backends.py:481-499 (base path kept)"),
        AddressingCase(url: "s3://bkt/k", overrideURL: "gateway.example.com/s3", base: "https://bkt.gateway.example.com/s3",
                       signingRegion: "us-east-1", from: "backends.py:487-494 (no scheme: https)"),
        AddressingCase(url: "s3://bkt/k", overrideURL: "http://127.0.0.1:9000", base: "http://127.0.0.1:9000/bkt",
                       signingRegion: "us-east-1", from: "S3 ruleset: never a bucket in front of an IP endpoint"),
        AddressingCase(url: "s3://my.bkt/k", overrideURL: "http://minio.local:9000", base: "http://my.bkt.minio.local:9000",
                       signingRegion: "us-east-1", from: "S3 ruleset: dotted names over http"),
        AddressingCase(url: "s3://my.bkt/k", overrideURL: "https://minio.local", base: "https://minio.local/my.bkt",
                       signingRegion: "us-east-1", from: "S3 ruleset: no dotted names over https"),
        AddressingCase(url: "s3://my_bkt/k", overrideURL: "http://minio.local:9000", base: "http://minio.local:9000/my_bkt",
                       signingRegion: "us-east-1", from: "isVirtualHostableS3Bucket: no _"),
        // s3 without an override_url: AWS, or boto3's configured endpoint (AWS_ENDPOINT_URL), path-style.
        AddressingCase(url: "s3://bkt/k", base: "https://bkt.s3.us-east-1.amazonaws.com", signingRegion: "us-east-1",
                       from: "backends.py:500; constants.py:70"),
        AddressingCase(url: "s3://bkt/k", region: "eu-west-1", base: "https://bkt.s3.eu-west-1.amazonaws.com", signingRegion: "eu-west-1",
                       from: "backends.py:500,609-610"),
        AddressingCase(url: "s3://bkt/k", environment: ["AWS_S3_FORCE_PATH_STYLE": "1"], base: "https://s3.us-east-1.amazonaws.com/bkt",
                       signingRegion: "us-east-1", from: "s3.py:150-151"),
        AddressingCase(url: "s3://my.bkt/k", base: "https://s3.us-east-1.amazonaws.com/my.bkt", signingRegion: "us-east-1",
                       from: "S3 ruleset: no dotted names over https"),
        AddressingCase(url: "s3://bkt/k", environmentEndpoint: "http://minio.local:9000", base: "http://minio.local:9000/bkt",
                       signingRegion: "us-east-1", from: "s3.py:152-153 (no override_url: boto3's auto, path for its configured endpoint)"),
        AddressingCase(url: "s3://bkt/k", environment: ["OSMO_S3_ADDRESSING_STYLE": "virtual"], environmentEndpoint: "http://minio.local:9000",
                       base: "http://bkt.minio.local:9000", signingRegion: "us-east-1", from: "s3.py:147-149"),
        // gs: https://storage.googleapis.com, path-style (boto3's auto with an endpoint), us-east1.
        AddressingCase(url: "gs://bkt/k", base: "https://storage.googleapis.com/bkt", signingRegion: "us-east1",
                       from: "backends.py:671,753; constants.py:71,74"),
        AddressingCase(url: "gs://bkt/k", region: "auto", base: "https://storage.googleapis.com/bkt", signingRegion: "auto", from: "backends.py:753"),
        AddressingCase(url: "gs://bkt/k", style: .virtual, base: "https://bkt.storage.googleapis.com", signingRegion: "us-east1", from: "s3.py:143-144"),
        AddressingCase(url: "gs://bkt/k", environment: ["OSMO_S3_ADDRESSING_STYLE": "virtual"], base: "https://storage.googleapis.com/bkt",
                       signingRegion: "us-east1", from: "s3.py:145-146"),
        AddressingCase(url: "gs://bkt/k", overrideURL: "http://gcs.local:4443", base: "http://gcs.local:4443/bkt", signingRegion: "us-east1",
                       from: "backends.py:214-215"),
        // tos: always virtual-hosted, the region read from the host.
        AddressingCase(url: "tos://tos-s3-cn-beijing.volces.com/bkt/k", base: "https://bkt.tos-s3-cn-beijing.volces.com", signingRegion: "cn-beijing",
                       from: "backends.py:804,835,862-865; s3.py:169-171"),
        AddressingCase(url: "tos://tos-s3-ap-southeast-1.bytepluses.com/bkt/k", style: .path, region: "eu-west-9",
                       base: "https://bkt.tos-s3-ap-southeast-1.bytepluses.com", signingRegion: "ap-southeast-1", from: "backends.py:862-865; s3.py:169-171"),
        AddressingCase(url: "tos://tos-s3-us-east-1.osmo.test/bkt/k", overrideURL: "http://s3.osmo.test:9000", base: "http://bkt.s3.osmo.test:9000",
                       signingRegion: "us-east-1", from: "backends.py:214-215; s3.py:169-171"),
        // swift: https://host, bucket = container, path-style, the credential's region or us-east-1.
        AddressingCase(url: "swift://swift.example.com/AUTH_team/cont/k", base: "https://swift.example.com/cont", signingRegion: "us-east-1",
                       from: "backends.py:272,279-280,389; constants.py:70"),
        AddressingCase(url: "swift://swift.example.com/AUTH_team/cont/k", region: "RegionOne", base: "https://swift.example.com/cont",
                       signingRegion: "RegionOne", from: "backends.py:389"),
        AddressingCase(url: "swift://swift.example.com/AUTH_team/cont/k", style: .virtual, base: "https://cont.swift.example.com",
                       signingRegion: "us-east-1", from: "s3.py:143-144"),
        AddressingCase(url: "swift://swift.example.com/AUTH_team/cont/k", overrideURL: "http://s3.osmo.test:9000", base: "http://s3.osmo.test:9000/cont",
                       signingRegion: "us-east-1", from: "backends.py:214-215"),
    ]

    static func resolve(_ row: AddressingCase) throws -> S3Addressing {
        let credential = DataCredential(region: row.region, overrideURL: row.overrideURL, addressingStyle: row.style,
                                        environmentEndpoint: row.environmentEndpoint)
        return try S3Addressing(url: try DataURL(row.url), credential: credential, environment: row.environment)
    }

    @Test(arguments: cases)
    func addressingFollowsTheReference(_ row: AddressingCase) throws {
        let addressing = try Self.resolve(row)
        #expect(addressing.base == row.base, "\(row.from)")
        #expect(addressing.region == row.signingRegion, "\(row.from)")
    }

    /// The same table through boto3 itself: the client the reference would build (endpoint,
    /// layer-1 `addressing_style`, region) asked for the object's URL by the installed botocore.
    /// (For us-east-1 boto3 uses the legacy global host `s3.amazonaws.com`; we use the regional
    /// one, as the reference's `parse_uri_to_link` does: the oracle is asked for it with
    /// `AWS_S3_US_EAST_1_REGIONAL_ENDPOINT=regional`.)
    @Test func addressingAgreesWithBoto3() throws {
        var lines: [String] = []
        var expected: [String] = []
        for row in Self.cases {
            let url = try DataURL(row.url)
            let override = row.overrideURL.map { $0.contains("://") ? $0 : "https://\($0)" }
            let endpoint: String? = switch url.scheme {
            case .s3: override ?? row.environmentEndpoint
            case .gs: override ?? "https://storage.googleapis.com"
            default: override ?? "https://\(url.account)"
            }
            let style = try S3Addressing.configuredStyle(url.scheme, overrideURL: row.overrideURL, credentialStyle: row.style, environment: row.environment)
            let request: [String: String?] = ["endpoint": endpoint, "style": style?.rawValue, "region": try Self.resolve(row).region,
                                              "bucket": url.bucket, "key": url.key]
            lines.append(String(decoding: try JSONEncoder().encode(request), as: UTF8.self))
            expected.append("\(row.base)/\(url.key)")
        }
        let oracle = """
            import json, sys, os
            os.environ["AWS_S3_US_EAST_1_REGIONAL_ENDPOINT"] = "regional"
            import boto3, botocore.config
            for line in sys.stdin:
                r = json.loads(line)
                cfg = {"s3": {"addressing_style": r["style"]}} if r.get("style") else {}
                c = boto3.session.Session().client("s3", endpoint_url=r.get("endpoint"), region_name=r["region"],
                    aws_access_key_id="a", aws_secret_access_key="b", config=botocore.config.Config(**cfg))
                seen = {}
                def grab(request, **kw):
                    seen["url"] = request.url
                    raise KeyboardInterrupt
                c.meta.events.register("before-send.s3", grab)
                try:
                    c.get_object(Bucket=r["bucket"], Key=r["key"])
                except KeyboardInterrupt:
                    pass
                print(seen["url"])
            """
        let result = try Shell.run("/usr/bin/env", ["python3", "-c", oracle], stdin: lines.joined(separator: "\n") + "\n")
        try #require(result.status == 0, "\(result.stderr)")
        let urls = result.stdout.split(separator: "\n").map(String.init)
        try #require(urls.count == expected.count, "\(result.stdout)")
        for (index, row) in Self.cases.enumerated() {
            #expect(urls[index] == expected[index], "boto3 for \(row)")
        }
    }
}

/// `DataCredentials`: the platform's file shape, the profile lookup, and the errors.
@Suite struct StorageCredentialTests {
    static func credentials(_ yaml: String, environment: [String: String] = [:]) throws -> (DataCredentials, Scratch, String) {
        let scratch = Scratch()
        try scratch.write("config.yaml", yaml)
        return (DataCredentials.load(required: [scratch.at("config.yaml")], environment: environment), scratch, scratch.at("config.yaml"))
    }

    /// The file exactly as the service writes it (`task.py` `create_config_dict`, yaml.dump of
    /// `StaticDataCredential.to_decrypted_dict`: credentials.py L113-129).
    @Test func thePlatformsShapeIsRead() throws {
        let (credentials, _, _) = try Self.credentials("""
            auth:
              data:
                s3://bkt:
                  access_key: 's#c: ret'
                  access_key_id: AK
                  addressing_style: path
                  endpoint: s3://bkt
                  override_url: http://minio.local:9000
                  region: eu-west-1
            """)
        let credential = try credentials.credential(for: try DataURL("s3://bkt/x/y"))
        #expect(credential == DataCredential(endpoint: "s3://bkt", region: "eu-west-1", accessKeyID: "AK", accessKey: "s#c: ret",
                                             overrideURL: "http://minio.local:9000", addressingStyle: .path))
    }

    /// The reference looks up the URL's own profile (common.py L302, task.py `fetch_creds`);
    /// a longer key that prefixes the URL at a `/` wins over it.
    @Test(arguments: [
        ("s3://bkt/team/x", "team"), ("s3://bkt/teamx/y", "bucket"), ("s3://bkt", "bucket"), ("s3://bkt/team", "team"),
        ("swift://h/AUTH_ns/cont/p", "swift"), ("tos://tos-s3-r.h/bkt/p", "tos"), ("gs://bkt/p", "gs"),
    ])
    func longestProfileWins(_ url: String, _ expected: String) throws {
        let (credentials, _, _) = try Self.credentials("""
            auth:
              data:
                "s3://bkt/":
                  access_key_id: bucket
                  access_key: k
                s3://bkt/team:
                  access_key_id: team
                  access_key: k
                swift://h/AUTH_ns:
                  access_key_id: swift
                  access_key: k
                tos://tos-s3-r.h/bkt:
                  access_key_id: tos
                  access_key: k
                gs://bkt:
                  access_key_id: gs
                  access_key: k
            """)
        #expect(try credentials.credential(for: try DataURL(url)).accessKeyID == expected)
    }

    @Test func anEndpointOfAnotherLocationNamesBoth() throws {
        let (credentials, _, file) = try Self.credentials("auth:\n  data:\n    s3://bkt:\n      endpoint: s3://other/p\n      access_key_id: a\n      access_key: b\n")
        let error = try #require(throws: OsmoError.self) { try credentials.credential(for: try DataURL("s3://bkt/x")) }
        #expect(error.code == .invalidInput)
        #expect(error.message.contains(file) && error.message.contains("\"s3://bkt\"") && error.message.contains("s3://other/p"), "\(error.message)")
    }

    /// `_format_invalid_endpoint_error` (credentials.py L36-52): an HTTP URL in `endpoint` says
    /// where it belongs.
    @Test func anHTTPEndpointPointsToOverrideURL() throws {
        let (credentials, _, _) = try Self.credentials("auth:\n  data:\n    s3://bkt:\n      endpoint: http://minio:9000/x\n      access_key_id: a\n      access_key: b\n")
        let error = try #require(throws: OsmoError.self) { try credentials.credential(for: try DataURL("s3://bkt/x")) }
        #expect(error.message.contains("override_url: http://minio:9000") && error.message.contains("endpoint: s3://bkt"), "\(error.message)")
    }

    @Test(arguments: [
        ("addressing_style: sideways", "addressing_style 'sideways'"),
        ("override_url: s3://bkt", "override_url 's3://bkt'"),
        ("endpoint: s3://bkt", "no access_key"),
    ])
    func unusableProfilesAreErrors(_ field: String, _ says: String) throws {
        let keys = field.hasPrefix("endpoint") ? "access_key_id: a" : "access_key_id: a\n      access_key: b"
        let (credentials, _, _) = try Self.credentials("auth:\n  data:\n    s3://bkt:\n      \(field)\n      \(keys)\n")
        let error = try #require(throws: OsmoError.self) { try credentials.credential(for: try DataURL("s3://bkt/x")) }
        #expect(error.code == .invalidInput)
        #expect(error.message.contains(says), "\(error.message)")
        // A broken profile nobody asks for breaks nothing.
        #expect(throws: Never.self) { try DataCredentials(profiles: [], environment: ["AWS_ACCESS_KEY_ID": "e", "AWS_SECRET_ACCESS_KEY": "s"]).credential(for: try DataURL("s3://other/x")) }
    }

    @Test func aMissingRequiredFileFailsEveryLookupNamingIt() throws {
        let credentials = DataCredentials.load(required: ["/nonexistent/user.yaml"], flag: "-userConfig", environment: ["AWS_ACCESS_KEY_ID": "e", "AWS_SECRET_ACCESS_KEY": "s"])
        let error = try #require(throws: OsmoError.self) { try credentials.credential(for: try DataURL("s3://bkt/x")) }
        #expect(error.code == .invalidInput)
        #expect(error.message == "cannot read the credentials file /nonexistent/user.yaml (given with -userConfig): no such file; check the path")
        #expect(throws: OsmoError.self) { try credentials.checkFiles() }
        // The default locations may be absent.
        #expect(throws: Never.self) { try DataCredentials.load(configFiles: ["/nonexistent/config.yaml"]).checkFiles() }
    }

    @Test func noCredentialsSaysWhatWasLookedFor() throws {
        let (_, scratch, file) = try Self.credentials("auth:\n  data:\n    s3://elsewhere:\n      access_key_id: a\n      access_key: b\n")
        let all = DataCredentials.load(required: [file], optional: [scratch.at("absent.yaml")], environment: [:])
        let error = try #require(throws: OsmoError.self) { try all.credential(for: try DataURL("s3://bkt/x")) }
        #expect(error.code == .unauthorized)
        for part in ["s3://bkt/x", "\"s3://bkt\"", file, "not found: \(scratch.at("absent.yaml"))", "AWS_ACCESS_KEY_ID", "--config"] {
            #expect(error.message.contains(part), "\(part) in \(error.message)")
        }
        let gs = try #require(throws: OsmoError.self) { try all.credential(for: try DataURL("gs://bkt/x")) }
        #expect(gs.message.contains("GS_ACCESS_KEY_ID"), "\(gs.message)")
        // A default credential (endpoint only: the pod's identity) says so.
        let (ambient, _, _) = try Self.credentials("auth:\n  data:\n    s3://bkt:\n      endpoint: s3://bkt\n")
        let keyless = try #require(throws: OsmoError.self) { try ambient.credential(for: try DataURL("s3://bkt/x")) }
        #expect(keyless.message.contains("has no access_key_id/access_key"), "\(keyless.message)")
    }

    /// Keys come from the profile, or (none there) from the environment; a session token only
    /// with environment keys; `$AWS_ENDPOINT_URL` only for s3 and only without override_url.
    @Test func theEnvironmentFillsOnlyWhatTheProfileLeavesOut() throws {
        let environment = ["AWS_ACCESS_KEY_ID": "envkey", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": "token",
                           "AWS_ENDPOINT_URL": "http://env.local:1", "AWS_REGION": "ap-south-1"]
        let (credentials, _, _) = try Self.credentials("""
            auth:
              data:
                s3://keys:
                  access_key_id: filekey
                  access_key: filesecret
                s3://keyless:
                  endpoint: s3://keyless
                s3://override:
                  access_key_id: filekey
                  access_key: filesecret
                  override_url: http://minio.local:9000
                swift://h/AUTH_ns:
                  access_key_id: filekey
                  access_key: filesecret
            """, environment: environment)
        let keys = try credentials.credential(for: try DataURL("s3://keys/x"))
        #expect(keys.accessKeyID == "filekey" && keys.sessionToken == nil && keys.environmentEndpoint == "http://env.local:1" && keys.region == "ap-south-1")
        let keyless = try credentials.credential(for: try DataURL("s3://keyless/x"))
        #expect(keyless.accessKeyID == "envkey" && keyless.sessionToken == "token")
        #expect(try credentials.credential(for: try DataURL("s3://override/x")).environmentEndpoint == nil)
        let swift = try credentials.credential(for: try DataURL("swift://h/AUTH_ns/c/x"))
        #expect(swift.environmentEndpoint == nil && swift.region == nil)
    }
}

/// `Tests/Servers/s3.py` with a host name: path-style at `s3.osmo.test:P`, virtual-hosted at
/// `osmo-test.s3.osmo.test:P`, both reached through libcurl's `CURLOPT_RESOLVE`
/// (`$OSMO_CURL_RESOLVE`), each request logged with the Host, target and signing region that
/// arrived. us-east1 (GCS's default) is accepted beside us-east-1.
final class NamedS3Server {
    static let name = "s3.osmo.test"
    let scratch = Scratch("osmo-s3-named")
    let child: ChildProcess
    let port: Int
    let accessKeyID: String
    let secretAccessKey: String
    let bucket = "osmo-test"

    struct Request: Decodable {
        var method: String
        var host: String
        var target: String
        var region: String?
        var status: Int?
    }

    private struct Ready: Decodable {
        var port: Int
        var access_key_id: String
        var secret_access_key: String
    }

    init() throws {
        let (child, ready) = try ServerScripts.start("s3.py", [
            "--port", "0", "--log", scratch.at("s3.log"), "--requests", scratch.at("requests.jsonl"),
            "--dns-name", Self.name, "--region", "us-east-1", "--region", "us-east1",
        ], scratch: scratch)
        self.child = child
        let info = try JSONDecoder().decode(Ready.self, from: Data(ready.utf8))
        port = info.port
        accessKeyID = info.access_key_id
        secretAccessKey = info.secret_access_key
    }

    deinit {
        child.signal(SIGTERM)
        _ = try? child.wait()
    }

    var endpoint: String { "http://\(Self.name):\(port)" }
    var pathHost: String { "\(Self.name):\(port)" }
    var virtualHost: String { "\(bucket).\(Self.name):\(port)" }
    /// `$OSMO_CURL_RESOLVE` for both names.
    var resolve: String { "\(pathHost):127.0.0.1 \(virtualHost):127.0.0.1" }

    func requests() -> [Request] {
        text(of: scratch.at("requests.jsonl")).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(Request.self, from: Data($0.utf8))
        }
    }
}

/// One scheme end to end: its URL, the profile the platform files its credential under, that
/// credential's extra fields, the environment, and the form the server must see.
struct SchemeCase: Sendable, CustomStringConvertible {
    var name: String
    /// With `{host}` for the server's host name.
    var url: String
    var profile: String
    var fields: [String: String] = [:]
    var environment: [String] = []
    var virtual: Bool
    var region: String
    var from: String
    var description: String { name }
}

@Suite(.serialized)
struct StorageEndToEndTests {
    static let schemes: [SchemeCase] = [
        SchemeCase(name: "s3-virtual", url: "s3://osmo-test/e2e/s3-virtual", profile: "s3://osmo-test", fields: ["endpoint": "s3://osmo-test"],
                   virtual: true, region: "us-east-1", from: "s3.py:152-154 (override_url → virtual)"),
        SchemeCase(name: "s3-path", url: "s3://osmo-test/e2e/s3-path", profile: "s3://osmo-test",
                   fields: ["endpoint": "s3://osmo-test", "addressing_style": "path"], virtual: false, region: "us-east-1", from: "s3.py:143-144"),
        SchemeCase(name: "s3-path-osmo-variable", url: "s3://osmo-test/e2e/s3-osmo-var", profile: "s3://osmo-test", fields: ["endpoint": "s3://osmo-test"],
                   environment: ["OSMO_S3_ADDRESSING_STYLE=path"], virtual: false, region: "us-east-1", from: "s3.py:147-149"),
        SchemeCase(name: "s3-path-force-variable", url: "s3://osmo-test/e2e/s3-force-var", profile: "s3://osmo-test", fields: ["endpoint": "s3://osmo-test"],
                   environment: ["AWS_S3_FORCE_PATH_STYLE=true"], virtual: false, region: "us-east-1", from: "s3.py:150-151"),
        SchemeCase(name: "gs", url: "gs://osmo-test/e2e/gs", profile: "gs://osmo-test", fields: ["endpoint": "gs://osmo-test"],
                   virtual: false, region: "us-east1", from: "backends.py:753; constants.py:71; s3.py:145-146"),
        // The credential's region and addressing_style are not TOS's to give.
        SchemeCase(name: "tos", url: "tos://tos-s3-us-east-1.osmo.test/osmo-test/e2e/tos", profile: "tos://tos-s3-us-east-1.osmo.test/osmo-test",
                   fields: ["endpoint": "tos://tos-s3-us-east-1.osmo.test/osmo-test", "region": "cn-beijing", "addressing_style": "path"],
                   virtual: true, region: "us-east-1", from: "backends.py:862-865; s3.py:169-171"),
        SchemeCase(name: "swift", url: "swift://swift.osmo.test/AUTH_team/osmo-test/e2e/swift", profile: "swift://swift.osmo.test/AUTH_team",
                   fields: ["endpoint": "swift://swift.osmo.test/AUTH_team"], virtual: false, region: "us-east-1",
                   from: "backends.py:266-275,389 (bucket = container)"),
    ]

    /// The config file as the platform writes it: `yaml.dump` of `create_config_dict`'s dict
    /// (task.py L105-123), by PyYAML itself.
    static func platformConfig(_ scratch: Scratch, _ profile: String, _ credential: [String: String]) throws -> String {
        let json = String(decoding: try JSONEncoder().encode(["auth": ["data": [profile: credential]]]), as: UTF8.self)
        let dumped = try Shell.run("/usr/bin/env", ["python3", "-c", "import json, sys, yaml; sys.stdout.write(yaml.dump(json.load(sys.stdin)))"], stdin: json)
        try #require(dumped.status == 0, "\(dumped.stderr)")
        try scratch.write("config.yaml", dumped.stdout)
        return scratch.at("config.yaml")
    }

    /// The environment of a platform task: no AWS variables of the machine's, a scratch HOME.
    static func environment(_ scratch: Scratch, _ extra: [String]) -> [String] {
        ChildProcess.currentEnvironment.filter { !$0.hasPrefix("AWS_") && !$0.hasPrefix("OSMO_") && !$0.hasPrefix("HOME=") && !$0.hasPrefix("GS_") }
            + ["HOME=\(scratch.path)"] + extra
    }

    func osmo(_ arguments: [String], _ environment: [String]) throws -> Finished {
        try Shell.run(OsmoBinary.path, ["data"] + arguments, environment: environment)
    }

    /// Upload, list and download through the built binary with only the platform's config file,
    /// override_url at the server; every request arrives in the scheme's form and region.
    @Test(arguments: schemes)
    func uploadListDownload(_ scheme: SchemeCase) throws {
        let server = try NamedS3Server()
        let scratch = Scratch()
        var fields = scheme.fields
        fields["access_key_id"] = server.accessKeyID
        fields["access_key"] = server.secretAccessKey
        fields["override_url"] = server.endpoint
        let config = try Self.platformConfig(scratch, scheme.profile, fields)
        let environment = Self.environment(scratch, ["OSMO_CURL_RESOLVE=\(server.resolve)"] + scheme.environment)
        try scratch.write("up/a.txt", "a \(scheme.name)\n")
        try scratch.write("up/sub/b é.txt", "b\n")

        let upload = try osmo(["upload", scheme.url, scratch.at("up") + "/*", "--config", config], environment)
        #expect(upload.status == 0, "\(scheme.from): \(upload.stdout) \(upload.stderr)")
        let listing = try osmo(["list", scheme.url, "-r", "--config", config], environment)
        #expect(listing.status == 0, "\(listing.stderr)")
        #expect(listing.stdout.hasSuffix("\n\nTotal 2 objects found\n"), "\(listing.stdout)")
        let download = try osmo(["download", scheme.url, scratch.at("down"), "--config", config], environment)
        #expect(download.status == 0, "\(download.stderr)")
        #expect(text(of: scratch.at("down/a.txt")) == "a \(scheme.name)\n")
        #expect(text(of: scratch.at("down/sub/b é.txt")) == "b\n")

        // What arrived: after the server's own setup (on 127.0.0.1), only our requests.
        let ours = server.requests().filter { !$0.host.hasPrefix("127.0.0.1") }
        #expect(ours.count >= 5, "\(ours.map(\.target))") // 2 PUT, 1+ list, 2 GET at least
        let host = scheme.virtual ? server.virtualHost : server.pathHost
        for request in ours {
            #expect(request.host == host, "\(scheme.from): \(request.method) \(request.target)")
            #expect(request.target.hasPrefix(scheme.virtual ? "/" : "/\(server.bucket)"), "\(scheme.from): \(request.target)")
            #expect(!scheme.virtual || !request.target.hasPrefix("/\(server.bucket)/"), "\(request.target)")
            #expect(request.region == scheme.region, "\(scheme.from): \(request.target)")
            #expect((200..<300).contains(request.status ?? 0), "\(request.method) \(request.target): \(request.status ?? 0)")
        }
        #expect(ours.contains { $0.method == "PUT" && $0.target.hasSuffix("/e2e/\(scheme.url.split(separator: "/").last!)/a.txt") }, "\(ours.map(\.target))")
    }

    /// The issue's first symptom: `list s3://bkt/x --config F` with the platform's credential
    /// (`endpoint: s3://bkt`) used to fail with `Protocol "s3" not supported`.
    @Test func listWithThePlatformsFileAndAnIPOverride() throws {
        let server = try NamedS3Server()
        let scratch = Scratch()
        let config = try Self.platformConfig(scratch, "s3://osmo-test", [
            "endpoint": "s3://osmo-test", "region": "us-east-1", "access_key_id": server.accessKeyID,
            "access_key": server.secretAccessKey, "override_url": "http://127.0.0.1:\(server.port)",
        ])
        let listed = try osmo(["list", "s3://osmo-test/x", "--config", config], Self.environment(scratch, []))
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout == "\nTotal 0 objects found\n", "\(listed.stdout)")
        // An IP endpoint is path-style whatever the default (the S3 ruleset).
        let ours = try #require(server.requests().last { $0.target.contains("prefix=x") }, "\(server.requests().map(\.target))")
        #expect(ours.host == "127.0.0.1:\(server.port)" && ours.target.hasPrefix("/osmo-test/?"), "\(ours)")
    }

    /// Errors before any request: each says what is wrong and where, with the documented code.
    @Test func configurationErrorsAreClear() throws {
        let scratch = Scratch()
        let environment = Self.environment(scratch, [])
        let missing = try osmo(["list", "s3://osmo-test/x", "--config", scratch.at("nope.yaml")], environment)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot read the credentials file \(scratch.at("nope.yaml")) (given with --config): no such file"), "\(missing.stderr)")

        let none = try osmo(["list", "s3://osmo-test/x"], environment)
        #expect(none.status == 14)
        for part in ["no credentials for s3://osmo-test/x", "\"s3://osmo-test\"", "not found: \(scratch.at(".config/osmo/config.yaml"))", "AWS_ACCESS_KEY_ID"] {
            #expect(none.stderr.contains(part), "\(part) in \(none.stderr)")
        }

        let mismatch = try Self.platformConfig(scratch, "s3://osmo-test", ["endpoint": "s3://elsewhere", "access_key_id": "a", "access_key": "b"])
        let wrong = try osmo(["download", "s3://osmo-test/x", scratch.at("d"), "--config", mismatch], environment)
        #expect(wrong.status == 2)
        #expect(wrong.stderr.contains("\"s3://osmo-test\" has endpoint 's3://elsewhere'"), "\(wrong.stderr)")

        let http = try Self.platformConfig(scratch, "s3://osmo-test", ["endpoint": "http://minio:9000", "access_key_id": "a", "access_key": "b"])
        let misplaced = try osmo(["upload", "s3://osmo-test/x/", scratch.at("config.yaml"), "--config", http], environment)
        #expect(misplaced.status == 2)
        #expect(misplaced.stderr.contains("set 'override_url: http://minio:9000'"), "\(misplaced.stderr)")
    }
}
