import OsmoCore

/// A data location as the platform writes it: `s3://bucket/prefix`, `gs://bucket/prefix`,
/// `tos://host/bucket/prefix`, `swift://account/container/prefix`, `azure://account/container/prefix`,
/// `http(s)://host/path`, `file:///path` or a plain path.
public struct DataURL: Equatable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Sendable, CaseIterable {
        case file, http, https, s3, gs, tos, swift, azure
    }

    public let scheme: Scheme
    /// Host part for tos (the endpoint host), storage account for azure/swift, empty otherwise.
    public let account: String
    /// Bucket or container; empty for file/http.
    public let bucket: String
    /// Object key or prefix (no leading `/`); the local path for file; the path for http.
    public let key: String
    /// The text as given.
    public let text: String

    public var description: String { text }

    /// The credential profile this URL belongs to (`s3://bucket`, `azure://account`…).
    public var profile: String {
        switch scheme {
        case .s3, .gs: "\(scheme.rawValue)://\(bucket)"
        case .tos, .swift, .azure: "\(scheme.rawValue)://\(account)"
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
            bucket = ""
            key = rest
        case .http, .https:
            // The query (a presigned URL's signature) and fragment are sent, never part of a name.
            let location = rest.prefix { $0 != "?" && $0 != "#" }
            guard let host = location.split(separator: "/", omittingEmptySubsequences: false).first, !host.isEmpty else {
                throw DataURL.malformed(text, "no host")
            }
            account = String(host)
            bucket = ""
            key = String(location.dropFirst(host.count))
        case .s3, .gs:
            let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = parts.first, !first.isEmpty else { throw DataURL.malformed(text, "no bucket") }
            guard DataURL.isBucketName(first) else { throw DataURL.malformed(text, "'\(first)' is not a valid bucket name") }
            account = ""
            bucket = String(first)
            key = parts.count > 1 ? String(parts[1]) : ""
        case .tos, .swift, .azure:
            let parts = rest.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                let shape = scheme == .tos ? "tos://host/bucket/path" : "\(scheme.rawValue)://account/container/path"
                throw DataURL.malformed(text, "expected \(shape)")
            }
            account = String(parts[0])
            bucket = String(parts[1])
            key = parts.count > 2 ? String(parts[2]) : ""
        }
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
