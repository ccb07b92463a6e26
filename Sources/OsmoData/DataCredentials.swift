import Glibc
import OsmoCore
import OsmoSystem

/// Access to one storage profile, in the platform's shape:
/// `auth: data: <profile>: {endpoint, region, access_key_id, access_key, override_url}`.
public struct DataCredential: Sendable, Equatable {
    public var endpoint: String?
    public var region: String?
    public var accessKeyID: String?
    public var accessKey: String?
    /// An S3-compatible endpoint replacing the provider's (MinIO, moto, Swift's S3 API…).
    public var overrideURL: String?
    /// Azure: a SAS token (`sv=…&sig=…`), from `access_key` or `$AZURE_STORAGE_SAS_TOKEN`.
    public var sasToken: String?
    public var sessionToken: String?

    public init(endpoint: String? = nil, region: String? = nil, accessKeyID: String? = nil, accessKey: String? = nil,
                overrideURL: String? = nil, sasToken: String? = nil, sessionToken: String? = nil) {
        self.endpoint = endpoint
        self.region = region
        self.accessKeyID = accessKeyID
        self.accessKey = accessKey
        self.overrideURL = overrideURL
        self.sasToken = sasToken
        self.sessionToken = sessionToken
    }
}

/// Where credentials come from: config files (first match wins, longest profile prefix), then the
/// usual environment variables.
public struct DataCredentials: Sendable {
    public var profiles: [(profile: String, credential: DataCredential)]
    public var environment: [String: String]

    public init(profiles: [(String, DataCredential)] = [], environment: [String: String] = DataCredentials.processEnvironment()) {
        self.profiles = profiles.map { ($0.0, $0.1) }
        self.environment = environment
    }

    /// Reads the config files that exist among `paths` (missing ones are skipped; a malformed
    /// one is an error naming the file).
    public static func load(configFiles paths: [String], environment: [String: String] = processEnvironment()) throws -> DataCredentials {
        var profiles: [(String, DataCredential)] = []
        for path in paths where FileSystem.exists(path) {
            let text = try FileSystem.readText(path)
            let root: MiniYAML.Node
            do { root = try MiniYAML.parse(text) } catch let error as OsmoError {
                throw OsmoError(.invalidInput, "\(path): \(error.message)")
            }
            for (profile, node) in root["auth"]?["data"]?.pairs ?? [] {
                profiles.append((profile, DataCredential(
                    endpoint: node["endpoint"]?.string, region: node["region"]?.string,
                    accessKeyID: node["access_key_id"]?.string, accessKey: node["access_key"]?.string,
                    overrideURL: node["override_url"]?.string)))
            }
        }
        return DataCredentials(profiles: profiles, environment: environment)
    }

    /// The default config files for a CLI user: `$OSMO_CONFIG_FILE_DIR/config.yaml`,
    /// `~/.config/osmo/config.yaml`.
    public static func defaultConfigFiles(environment: [String: String] = processEnvironment()) -> [String] {
        var paths: [String] = []
        if let dir = environment["OSMO_CONFIG_FILE_DIR"] { paths.append(Path.join(dir, "config.yaml")) }
        if let home = environment["HOME"] { paths.append(Path.join(home, ".config/osmo/config.yaml")) }
        return paths
    }

    /// The credential for `url`: the longest configured profile that prefixes it, filled in
    /// from the environment where the file is silent.
    public func credential(for url: DataURL) -> DataCredential {
        let text = url.text
        var best: DataCredential?
        var bestLength = -1
        for (profile, credential) in profiles {
            let trimmed = profile.hasSuffix("/") ? String(profile.dropLast()) : profile
            guard text == trimmed || text.hasPrefix(trimmed + "/") || url.profile == trimmed else { continue }
            if trimmed.count > bestLength {
                best = credential
                bestLength = trimmed.count
            }
        }
        var credential = best ?? DataCredential()
        let env = environment
        switch url.scheme {
        case .azure:
            credential.sasToken = credential.sasToken ?? credential.accessKey ?? env["AZURE_STORAGE_SAS_TOKEN"]
        case .gs:
            credential.accessKeyID = credential.accessKeyID ?? env["GS_ACCESS_KEY_ID"] ?? env["AWS_ACCESS_KEY_ID"]
            credential.accessKey = credential.accessKey ?? env["GS_SECRET_ACCESS_KEY"] ?? env["AWS_SECRET_ACCESS_KEY"]
        default:
            credential.accessKeyID = credential.accessKeyID ?? env["AWS_ACCESS_KEY_ID"]
            credential.accessKey = credential.accessKey ?? env["AWS_SECRET_ACCESS_KEY"]
            credential.sessionToken = credential.sessionToken ?? env["AWS_SESSION_TOKEN"]
            credential.region = credential.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"]
            credential.overrideURL = credential.overrideURL ?? env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"]
        }
        return credential
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
