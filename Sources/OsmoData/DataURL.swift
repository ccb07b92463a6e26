import OsmoCore

/// A data location as the platform writes it: `s3://bucket/prefix`, `gs://bucket/prefix`,
/// `tos://host/bucket/prefix`, `swift://host/namespace/container/prefix`,
/// `azure://account/container/prefix`, `http(s)://host/path`, `file:///path` or a plain path.
///
/// The shapes and profiles are the reference's (`src/lib/data/storage/backends/backends.py`,
/// each backend's `create` and `profile`; `src/lib/api/storage.py` for the URI patterns).
public struct DataURL: Equatable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Sendable, CaseIterable {
        case file, http, https, s3, gs, tos, swift, azure

        /// The schemes of a storage URI (a credential's `endpoint`, a profile key).
        public static let storage: [Scheme] = [.swift, .s3, .gs, .tos, .azure]
    }

    public let scheme: Scheme
    /// The endpoint host for tos and swift, the storage account for azure, the host for http;
    /// empty for s3, gs and file.
    public let account: String
    /// Swift's namespace (`AUTH_team`), the path element between host and container; empty for
    /// the other schemes.
    public let namespace: String
    /// Bucket or container (swift: the container, never the namespace); empty for file/http.
    public let bucket: String
    /// Object key or prefix (no leading `/`); the local path for file; the path for http.
    public let key: String
    /// The text as given.
    public let text: String

    public var description: String { text }

    /// The credential profile this URL belongs to, the key the platform writes its credential
    /// under: `s3://bucket`, `gs://bucket`, `tos://host/bucket`, `swift://host/namespace`,
    /// `azure://account` (backends.py, each backend's `profile`).
    public var profile: String {
        switch scheme {
        case .s3, .gs: "\(scheme.rawValue)://\(bucket)"
        case .tos: "tos://\(account)/\(bucket)"
        case .swift: "swift://\(account)/\(namespace)"
        case .azure: "azure://\(account)"
        case .file, .http, .https: "\(scheme.rawValue)://"
        }
    }

    public var isObjectStore: Bool { ![.file, .http, .https].contains(scheme) }

    public init(_ text: String) throws {
        self.text = text
        guard !text.isEmpty else { throw DataURL.malformed(text, "it is empty") }
        guard let separator = text.firstRange(of: "://") else {
            // A plain path.
            scheme = .file
            account = ""
            namespace = ""
            bucket = ""
            key = text
            return
        }
        let name = text[..<separator.lowerBound].lowercased()
        guard let scheme = Scheme(rawValue: name) else {
            throw DataURL.malformed(text, "unknown scheme '\(name)' (known: \(Scheme.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.scheme = scheme
        let rest = String(text[separator.upperBound...])
        if rest.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\0" }) {
            throw DataURL.malformed(text, "it contains a control character")
        }
        switch scheme {
        case .file:
            guard rest.hasPrefix("/") else { throw DataURL.malformed(text, "file URLs need an absolute path (file:///path)") }
            account = ""
            namespace = ""
            bucket = ""
            key = rest
        case .http, .https:
            // The query (a presigned URL's signature) and fragment are sent, never part of a name.
            let location = rest.prefix { $0 != "?" && $0 != "#" }
            guard let host = location.split(separator: "/", omittingEmptySubsequences: false).first, !host.isEmpty else {
                throw DataURL.malformed(text, "no host")
            }
            account = String(host)
            namespace = ""
            bucket = ""
            key = String(location.dropFirst(host.count))
        case .s3, .gs:
            let parts = DataURL.components(rest, 1)
            guard let first = parts.first, !first.isEmpty else { throw DataURL.malformed(text, "no bucket") }
            guard DataURL.isBucketName(first) else { throw DataURL.malformed(text, "'\(first)' is not a valid bucket name") }
            account = ""
            namespace = ""
            bucket = String(first)
            key = parts.count > 1 ? String(parts[1]) : ""
        case .tos, .azure:
            let parts = DataURL.components(rest, 2)
            guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw DataURL.malformed(text, "expected \(scheme == .tos ? "tos://host/bucket/path" : "azure://account/container/path")")
            }
            account = String(parts[0])
            namespace = ""
            bucket = String(parts[1])
            key = parts.count > 2 ? String(parts[2]) : ""
        case .swift:
            // swift://<host>/<namespace>/<container>/<path>: the container is the bucket
            // (SwiftBackend.create splits the path in four).
            let parts = DataURL.components(rest, 3)
            guard parts.count >= 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
                throw DataURL.malformed(text, "expected swift://host/namespace/container/path")
            }
            account = String(parts[0])
            namespace = String(parts[1])
            bucket = String(parts[2])
            key = parts.count > 3 ? String(parts[3]) : ""
        }
    }

    /// The text after `scheme://` split at `/` into at most `splits + 1` parts.
    private static func components(_ rest: String, _ splits: Int) -> [Substring] {
        rest.split(separator: "/", maxSplits: splits, omittingEmptySubsequences: false)
    }

    static func isBucketName(_ name: Substring) -> Bool {
        (3...222).contains(name.count) && name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" }
    }

    static func malformed(_ text: String, _ reason: String) -> OsmoError {
        OsmoError(.invalidInput, "malformed data URL '\(text)': \(reason)")
    }
}

extension DataURL {
    /// The same location with `child` appended to the key (a `/` between).
    public func appending(_ child: String) -> String {
        let base = text.hasSuffix("/") ? String(text.dropLast()) : text
        return child.isEmpty ? base : "\(base)/\(child)"
    }

    /// The last path element (what a single object is saved as).
    public var basename: String {
        let trimmed = key.hasSuffix("/") ? String(key.dropLast()) : key
        return trimmed.split(separator: "/").last.map(String.init) ?? bucket
    }
}

extension DataURL {
    /// The profile a storage URI names (`s3://bkt/a/b` → `s3://bkt`, `swift://h/ns/c` →
    /// `swift://h/ns`, `tos://h/bkt/p` → `tos://h/bkt`), or nil when `text` is not one: a
    /// credential's `endpoint` and a profile key are storage URIs (`src/lib/api/storage.py`
    /// `STORAGE_CREDENTIAL_REGEX`: the profile patterns or full URIs, components `[^/,;*]+`).
    public static func storageProfile(of text: String) -> String? {
        guard let separator = text.firstRange(of: "://"),
              let scheme = Scheme(rawValue: String(text[..<separator.lowerBound])), Scheme.storage.contains(scheme) else { return nil }
        var rest = Substring(text[separator.upperBound...])
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && !$0.contains(where: { $0 == "," || $0 == ";" || $0 == "*" }) }) else { return nil }
        let count = scheme == .tos || scheme == .swift ? 2 : 1
        guard parts.count >= count else { return nil }
        return "\(scheme.rawValue)://\(parts.prefix(count).joined(separator: "/"))"
    }
}
