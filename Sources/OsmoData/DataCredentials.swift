import Glibc
import OsmoCore
import OsmoSystem

/// How an S3-API request names its bucket: in the host (`bkt.host/key`) or in the path
/// (`host/bkt/key`); `auto` leaves it to the rules boto3 applies (see `S3Addressing`).
/// The reference's `addressing_style` (`credentials.py` `DataCredentialBase`, a
/// `Literal['virtual', 'path', 'auto']`).
public enum S3AddressingStyle: String, Sendable, CaseIterable {
    case virtual, path, auto
}

/// Access to one storage profile, in the platform's shape (`credentials.py`
/// `StaticDataCredential.to_decrypted_dict`, written by the service's `create_config_dict`):
/// `auth: data: <profile>: {endpoint, region, access_key_id, access_key, override_url, addressing_style}`.
public struct DataCredential: Sendable, Equatable {
    /// The storage URI the credential is for (`s3://bkt`, `tos://host/bkt`, `swift://host/ns`,
    /// `azure://account`), never an HTTP URL.
    public var endpoint: String?
    public var region: String?
    public var accessKeyID: String?
    public var accessKey: String?
    /// The HTTP(S) base of an S3-compatible service (MinIO, CAIOS, moto…); nil: the provider's
    /// own endpoint. The only HTTP base a credential gives.
    public var overrideURL: String?
    public var addressingStyle: S3AddressingStyle?
    /// Azure: a SAS token (`sv=…&sig=…`), from `access_key` or `$AZURE_STORAGE_SAS_TOKEN`.
    public var sasToken: String?
    public var sessionToken: String?
    /// s3 only: `$AWS_ENDPOINT_URL_S3` / `$AWS_ENDPOINT_URL`, the endpoint boto3 reads from its
    /// configuration when no `override_url` is given (used only then, and addressed as boto3
    /// addresses a configured endpoint: path-style unless a style is asked for).
    public var environmentEndpoint: String?

    public init(endpoint: String? = nil, region: String? = nil, accessKeyID: String? = nil, accessKey: String? = nil,
                overrideURL: String? = nil, addressingStyle: S3AddressingStyle? = nil, sasToken: String? = nil,
                sessionToken: String? = nil, environmentEndpoint: String? = nil) {
        self.endpoint = endpoint
        self.region = region
        self.accessKeyID = accessKeyID
        self.accessKey = accessKey
        self.overrideURL = overrideURL
        self.addressingStyle = addressingStyle
        self.sasToken = sasToken
        self.sessionToken = sessionToken
        self.environmentEndpoint = environmentEndpoint
    }

    var hasKeys: Bool { !(accessKeyID ?? "").isEmpty && !(accessKey ?? "").isEmpty }
}

/// Where credentials come from: the profiles of config files, then the usual environment
/// variables.
///
/// A URL takes the profile whose key is its profile (`DataURL.profile`: what the reference looks
/// up, `backends/common.py` `resolved_data_credential`) or the longest key that prefixes it at a
/// `/` (`s3://bkt/team` before `s3://bkt`); a key found in two files is the first file's.
public struct DataCredentials: Sendable {
    public struct Profile: Sendable {
        /// The key under `auth: data:`, trailing `/` removed.
        public var key: String
        public var credential: DataCredential
        /// The file it was read from (nil when built in code).
        public var file: String?
        /// A field that cannot be used (`addressing_style: sideways`), reported when the profile
        /// is chosen: a broken profile nobody asks for breaks nothing.
        var problem: String?
    }

    public var profiles: [Profile]
    public var environment: [String: String]
    /// The files read, and the optional ones that were not there (for "no credentials").
    public private(set) var filesRead: [String] = []
    public private(set) var filesMissing: [String] = []
    /// Required files that could not be read and files that do not parse: thrown by
    /// `checkFiles()` and by every lookup, so nothing is looked up in a partial set.
    public private(set) var fileErrors: [OsmoError] = []

    public init(profiles: [(String, DataCredential)] = [], environment: [String: String] = DataCredentials.processEnvironment()) {
        self.profiles = profiles.map { Profile(key: Self.trimmed($0.0), credential: $0.1) }
        self.environment = environment
    }

    /// Reads `required` files (given on a command line: each must exist and be readable, or
    /// the lookups fail naming it and `flag`), then the `optional` ones that exist (the default
    /// locations). Never throws itself: `checkFiles()` reports at once, a lookup reports when a
    /// credential is needed (ctrl uploading `task:` outputs to a local path needs none).
    public static func load(required: [String], optional: [String] = [], flag: String = "--config",
                            environment: [String: String] = processEnvironment()) -> DataCredentials {
        var credentials = DataCredentials(environment: environment)
        for path in required { credentials.read(path, required: true, flag: flag) }
        for path in optional { credentials.read(path, required: false, flag: flag) }
        return credentials
    }

    /// The default locations only, as before: files that do not exist are skipped; one that
    /// does not parse is an error naming it.
    public static func load(configFiles paths: [String], environment: [String: String] = processEnvironment()) throws -> DataCredentials {
        let credentials = load(required: [], optional: paths, environment: environment)
        try credentials.checkFiles()
        return credentials
    }

    /// Throws the first problem with the files (missing, unreadable, malformed).
    public func checkFiles() throws {
        if let error = fileErrors.first { throw error }
    }

    /// The default config files for a CLI user: `$OSMO_CONFIG_FILE_DIR/config.yaml`,
    /// `~/.config/osmo/config.yaml`.
    public static func defaultConfigFiles(environment: [String: String] = processEnvironment()) -> [String] {
        var paths: [String] = []
        if let dir = environment["OSMO_CONFIG_FILE_DIR"] { paths.append(Path.join(dir, "config.yaml")) }
        if let home = environment["HOME"] { paths.append(Path.join(home, ".config/osmo/config.yaml")) }
        return paths
    }

    private mutating func read(_ path: String, required: Bool, flag: String) {
        if !required && !FileSystem.exists(path) {
            filesMissing.append(path)
            return
        }
        let text: String
        do { text = try FileSystem.readText(path) } catch let error as OsmoError {
            fileErrors.append(Self.unreadable(path, flag: required ? flag : nil, error))
            return
        } catch {
            fileErrors.append(OsmoError(.invalidInput, "cannot read the credentials file \(path): \(error)"))
            return
        }
        let root: MiniYAML.Node
        do { root = try MiniYAML.parse(text) } catch let error as OsmoError {
            fileErrors.append(OsmoError(.invalidInput, "\(path): \(error.message)"))
            return
        } catch {
            fileErrors.append(OsmoError(.invalidInput, "\(path): \(error)"))
            return
        }
        filesRead.append(path)
        for (key, node) in root["auth"]?["data"]?.pairs ?? [] {
            var credential = DataCredential(
                endpoint: node["endpoint"]?.string, region: node["region"]?.string,
                accessKeyID: node["access_key_id"]?.string, accessKey: node["access_key"]?.string,
                overrideURL: node["override_url"]?.string)
            var problem: String?
            if let style = node["addressing_style"]?.string, !style.isEmpty {
                credential.addressingStyle = S3AddressingStyle(rawValue: style)
                if credential.addressingStyle == nil {
                    problem = "addressing_style '\(style)' is not one of \(S3AddressingStyle.allCases.map(\.rawValue).joined(separator: ", "))"
                }
            }
            profiles.append(Profile(key: Self.trimmed(key), credential: credential, file: path, problem: problem))
        }
    }

    /// A required file that cannot be opened or read, with what to check.
    static func unreadable(_ path: String, flag: String?, _ error: OsmoError) -> OsmoError {
        let given = flag.map { " (given with \($0))" } ?? ""
        let hint: String = switch (error.cause as? Errno)?.rawValue {
        case ENOENT: "no such file; check the path"
        case EACCES: "permission denied; the file must be readable by uid \(getuid())"
        case EISDIR: "it is a directory; give the config file inside it"
        default: error.message
        }
        return OsmoError(.invalidInput, "cannot read the credentials file \(path)\(given): \(hint)", cause: error)
    }

    static func trimmed(_ key: String) -> String {
        var key = key
        while key.hasSuffix("/") && !key.hasSuffix("://") { key.removeLast() }
        return key
    }

    /// The profile that applies to `url`, if any: its own profile key or the longest key that
    /// prefixes it at a `/`.
    public func profile(for url: DataURL) -> Profile? {
        let text = Self.trimmed(url.text)
        let own = url.profile
        var best: Profile?
        for candidate in profiles {
            let key = candidate.key
            guard key == own || text == key || text.hasPrefix(key + "/") else { continue }
            if candidate.key.count > (best?.key.count ?? -1) { best = candidate }
        }
        return best
    }

    /// The credential for `url`: its profile (checked: the endpoint is the profile's storage
    /// URI, the fields are usable), filled in from the environment where the profile is silent.
    /// The S3-API schemes need keys: without them this throws, naming what was looked for.
    public func credential(for url: DataURL) throws -> DataCredential {
        try checkFiles()
        let profile = profile(for: url)
        if let profile { try Self.validate(profile, for: url) }
        var credential = profile?.credential ?? DataCredential()
        let env = environment.filter { !$0.value.isEmpty }
        let keysFromProfile = credential.hasKeys
        switch url.scheme {
        case .azure:
            credential.sasToken = credential.sasToken ?? credential.accessKey ?? env["AZURE_STORAGE_SAS_TOKEN"]
            return credential
        case .s3:
            credential.region = credential.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"]
            if credential.overrideURL == nil {
                credential.environmentEndpoint = env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"]
            }
        case .gs where !keysFromProfile:
            credential.accessKeyID = env["GS_ACCESS_KEY_ID"] ?? credential.accessKeyID
            credential.accessKey = env["GS_SECRET_ACCESS_KEY"] ?? credential.accessKey
        default: break
        }
        if !credential.hasKeys {
            credential.accessKeyID = env["AWS_ACCESS_KEY_ID"]
            credential.accessKey = env["AWS_SECRET_ACCESS_KEY"]
            credential.sessionToken = env["AWS_SESSION_TOKEN"]
        }
        guard credential.hasKeys else { throw noCredentials(for: url, profile: profile) }
        return credential
    }

    /// A chosen profile must be usable as the reference would use it (`credentials.py`
    /// `validate_endpoint`, `_format_invalid_endpoint_error`), and its endpoint must be the
    /// storage URI of the profile it is filed under.
    static func validate(_ profile: Profile, for url: DataURL) throws {
        let place = profile.file.map { "\($0): " } ?? ""
        let named = "\(place)profile \"\(profile.key)\""
        if let problem = profile.problem { throw OsmoError(.invalidInput, "\(named): \(problem)") }
        let credential = profile.credential
        if let endpoint = credential.endpoint, !endpoint.isEmpty {
            guard let endpointProfile = DataURL.storageProfile(of: endpoint) else {
                let schemes = DataURL.Scheme.storage.map { "\($0.rawValue)://" }.joined(separator: ", ")
                var message = "\(named): invalid endpoint '\(endpoint)': it is the storage URI of the profile (\(schemes))"
                if let http = HTTPBase(endpoint), http.scheme == "http" || http.scheme == "https" {
                    message += "; the value looks like an HTTP service URL: set 'override_url: \(http.scheme)://\(http.authority)' and put the storage URI in 'endpoint' (endpoint: \(url.profile))"
                } else {
                    message += "; for an HTTP service URL set 'override_url' separately"
                }
                throw OsmoError(.invalidInput, message)
            }
            let keyProfile = DataURL.storageProfile(of: profile.key) ?? profile.key
            guard endpointProfile == keyProfile else {
                throw OsmoError(.invalidInput, "\(named) has endpoint '\(endpoint)', which is another storage location (\(endpointProfile), not \(keyProfile)): a credential's endpoint is the storage URI of the profile it is filed under; fix the key or the endpoint")
            }
        }
        if let override = credential.overrideURL, !override.isEmpty {
            guard let base = HTTPBase(override), base.scheme == "http" || base.scheme == "https", !base.host.isEmpty else {
                throw OsmoError(.invalidInput, "\(named): override_url '\(override)' is not an http:// or https:// URL (it is the HTTP endpoint of an S3-compatible service, e.g. http://minio:9000)")
            }
        }
        if (credential.accessKeyID ?? "").isEmpty != (credential.accessKey ?? "").isEmpty {
            let missing = (credential.accessKeyID ?? "").isEmpty ? "access_key_id" : "access_key"
            throw OsmoError(.invalidInput, "\(named) has no \(missing): a credential with keys needs both access_key_id and access_key")
        }
    }

    /// "No credentials", with everything that was looked for.
    func noCredentials(for url: DataURL, profile: Profile?) -> OsmoError {
        var looked: [String] = []
        if let profile {
            looked.append("profile \"\(profile.key)\"\(profile.file.map { " in \($0)" } ?? "") has no access_key_id/access_key (a default credential: the pod's own identity, which osmo cannot use yet)")
        } else {
            let files = filesRead.isEmpty ? "no config file was read" : "none in \(filesRead.joined(separator: ", "))"
            let missing = filesMissing.isEmpty ? "" : "; not found: \(filesMissing.joined(separator: ", "))"
            looked.append("no profile \"\(url.profile)\" or a longer prefix of the URL (\(files)\(missing))")
        }
        let variables = url.scheme == .gs
            ? "GS_ACCESS_KEY_ID/GS_SECRET_ACCESS_KEY and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set"
            : "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set"
        looked.append(variables)
        return OsmoError(.unauthorized, "no credentials for \(url): \(looked.joined(separator: "; ")). Add the platform's credential to a config file (auth: data: \"\(url.profile)\": {endpoint: \(url.profile), access_key_id: …, access_key: …}) and pass it with --config, or set those variables")
    }

    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        for entry in ChildProcess.currentEnvironment {
            if let equals = entry.firstIndex(of: "=") {
                result[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
            }
        }
        return result
    }
}
