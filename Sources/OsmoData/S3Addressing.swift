import OsmoCore

/// Where the S3-API requests for one bucket go: the HTTP base, whether the bucket is in the host
/// or in the path, and the signing region. Derived the way the reference builds its boto3
/// client, in two layers:
///
/// 1. OSMO's own choice of `addressing_style` (`src/lib/data/storage/backends/s3.py`
///    `_get_boto_config` L157–193, `_get_s3_addressing_style` L119–154): `tos://` always
///    `virtual`; else the credential's `addressing_style`; else, for `s3://` only,
///    `$OSMO_S3_ADDRESSING_STYLE`, then `$AWS_S3_FORCE_PATH_STYLE=true|1` → `path`, then
///    `virtual` when an `override_url` is given; otherwise nothing (boto3 decides).
/// 2. What boto3 (botocore 1.43) does with that style and the endpoint
///    (`botocore/args.py` `compute_endpoint_resolver_builtin_defaults`, the S3 endpoint
///    ruleset's `isVirtualHostableS3Bucket`): with a custom endpoint, anything but `virtual`
///    forces path-style; without one (AWS) only `path` does. The bucket goes into the host only
///    if it can be a host label (3–63 of `a-z 0-9 -`, not an IPv4 address; over plain http a
///    dotted name whose labels all qualify), and never in front of an IP-address endpoint.
///
/// The HTTP base (`backends.py` `Boto3Backend.client_factory` L214: `override_url or
/// self.endpoint`): `override_url`; else for `s3://` `$AWS_ENDPOINT_URL_S3`/`$AWS_ENDPOINT_URL`
/// (boto3's configured endpoint; being no `override_url`, layer 1 leaves it to boto3: path);
/// `gs://` `https://storage.googleapis.com`; `tos://host/…` and `swift://host/…` `https://host`;
/// AWS for `s3://`.
///
/// The region: `s3://` the credential's (or `$AWS_REGION`, `$AWS_DEFAULT_REGION`), else
/// `us-east-1`; `gs://` the credential's, else `us-east1`; `tos://` from the host
/// `tos-s3-<region>.…`; `swift://` the credential's, else `us-east-1` (backends.py `region` of
/// each backend; `constants.py` L70–72).
public struct S3Addressing: Sendable, Equatable {
    public enum Placement: String, Sendable { case virtual, path }

    /// The URL of bucket-level requests, no trailing `/`: `http://bkt.host:9000` or
    /// `http://host:9000/bkt`; an object is `base/key`.
    public let base: String
    public let placement: Placement
    public let region: String

    public static let awsRegion = "us-east-1"
    public static let gsRegion = "us-east1"
    public static let tosRegion = "cn-beijing"
    public static let gsEndpoint = "https://storage.googleapis.com"

    public init(url: DataURL, credential: DataCredential, environment: [String: String]) throws {
        region = Self.region(url, credential)
        let override = credential.overrideURL.flatMap { $0.isEmpty ? nil : $0 }
        let configured = try Self.configuredStyle(url.scheme, overrideURL: override, credentialStyle: credential.addressingStyle, environment: environment)
        let endpointText: String? = switch url.scheme {
        case .s3: override ?? credential.environmentEndpoint
        case .gs: override ?? Self.gsEndpoint
        default: override ?? "https://\(url.account)"
        }
        let bucket = url.bucket
        guard let endpointText else {
            // AWS itself.
            let virtual = configured != .path && Self.isVirtualHostable(bucket, allowDots: false)
            placement = virtual ? .virtual : .path
            base = virtual ? "https://\(bucket).s3.\(region).amazonaws.com" : "https://s3.\(region).amazonaws.com/\(bucket)"
            return
        }
        guard let endpoint = HTTPBase(endpointText.contains("://") ? endpointText : "https://\(endpointText)"),
              endpoint.scheme == "http" || endpoint.scheme == "https", !endpoint.host.isEmpty else {
            throw OsmoError(.invalidInput, "\(url): the endpoint '\(endpointText)' is not an http:// or https:// URL")
        }
        let virtual = configured == .virtual && !endpoint.isIPAddress
            && Self.isVirtualHostable(bucket, allowDots: endpoint.scheme == "http")
        placement = virtual ? .virtual : .path
        base = virtual
            ? "\(endpoint.scheme)://\(bucket).\(endpoint.authority)\(endpoint.path)"
            : "\(endpoint.scheme)://\(endpoint.authority)\(endpoint.path)/\(bucket)"
    }

    /// Layer 1: the `addressing_style` the reference hands boto3, or nil for boto3's default.
    public static func configuredStyle(_ scheme: DataURL.Scheme, overrideURL: String?, credentialStyle: S3AddressingStyle?,
                                       environment: [String: String]) throws -> S3AddressingStyle? {
        if scheme == .tos { return .virtual } // "TOS only supports virtual-hosted style."
        if let credentialStyle { return credentialStyle }
        guard scheme == .s3 else { return nil }
        if let raw = environment["OSMO_S3_ADDRESSING_STYLE"], !raw.isEmpty {
            let normalized = raw.trimmingSpaces().lowercased()
            guard let style = S3AddressingStyle(rawValue: normalized) else {
                throw OsmoError(.invalidInput, "invalid OSMO_S3_ADDRESSING_STYLE value '\(raw)'; expected one of: \(S3AddressingStyle.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return style
        }
        if ["true", "1"].contains((environment["AWS_S3_FORCE_PATH_STYLE"] ?? "").lowercased()) { return .path }
        return overrideURL == nil ? nil : .virtual
    }

    /// botocore's `aws_is_virtual_hostable_s3_bucket` (`endpoint_provider.py`): 3+ characters,
    /// lowercase, not an IPv4 address, and a valid host label (`allowDots`: each label).
    public static func isVirtualHostable(_ bucket: String, allowDots: Bool) -> Bool {
        guard bucket.count >= 3, bucket.lowercased() == bucket, !HTTPBase.isIPv4(bucket) else { return false }
        let labels = allowDots ? bucket.split(separator: ".", omittingEmptySubsequences: false) : [Substring(bucket)]
        return labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    static func region(_ url: DataURL, _ credential: DataCredential) -> String {
        let given = credential.region.flatMap { $0.isEmpty ? nil : $0 }
        switch url.scheme {
        case .gs: return given ?? gsRegion
        case .tos:
            // netloc = tos-s3-<region>.<endpoint> (TOSBackend.region); a host of another form
            // has no region to read: the credential's, else the reference's default.
            if url.account.hasPrefix("tos-s3-"), let region = url.account.dropFirst(7).split(separator: ".").first, !region.isEmpty {
                return String(region)
            }
            return given ?? tosRegion
        default: return given ?? awsRegion
        }
    }
}

/// An HTTP(S) base URL taken apart: `scheme://host[:port][/path]`.
struct HTTPBase: Equatable {
    var scheme: String
    /// Without brackets for IPv6.
    var host: String
    /// `host[:port]` as written (IPv6 in brackets).
    var authority: String
    /// `""` or `/a/b`, no trailing `/`.
    var path: String

    init?(_ text: String) {
        guard let separator = text.firstRange(of: "://") else { return nil }
        scheme = text[..<separator.lowerBound].lowercased()
        let rest = text[separator.upperBound...].prefix { $0 != "?" && $0 != "#" }
        let authority = rest.prefix { $0 != "/" }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        self.authority = String(authority)
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        self.path = path
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
        } else {
            host = String(authority.prefix { $0 != ":" })
        }
    }

    var isIPAddress: Bool { host.contains(":") || Self.isIPv4(host) }

    /// Four groups of 1–3 decimal digits separated by dots (botocore's `IPV4_RE`, `compat.py`).
    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            (1...3).contains(part.count) && part.allSatisfy { $0.isASCII && $0.isNumber }
        }
    }
}
