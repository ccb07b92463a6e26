import OsmoCore
import OsmoTransfer

/// One object found under a data URL.
public struct RemoteObject: Sendable, Equatable {
    /// Full key (path for http) inside the bucket/container.
    public var key: String
    /// Path relative to the listed prefix (what lands under the destination directory).
    public var relativePath: String
    public var size: Int64?
    public var etag: String?

    public init(key: String, relativePath: String, size: Int64? = nil, etag: String? = nil) {
        self.key = key
        self.relativePath = relativePath
        self.size = size
        self.etag = etag
    }
}

/// The HTTP dialect of one kind of store: how to list, fetch and put objects. The transfer engine
/// does the moving; a store only builds requests and reads listings.
public protocol ObjectStore: Sendable {
    var url: DataURL { get }
    /// Objects under `url` (a prefix lists a tree; a key naming one object lists just it).
    func list(_ engine: TransferEngine) throws -> [RemoteObject]
    /// A GET for `key`, into `sink`.
    func get(_ key: String, sink: any ResponseSink) -> HTTPRequest
    /// Uploads `size` bytes read by `read(offset, length)` to `key`, in parts where the store
    /// supports them. Returns the stored ETag if the store gives one.
    func put(_ key: String, size: Int64, engine: TransferEngine, read: @escaping @Sendable (Int64, Int) throws -> [UInt8]) throws -> String?
    /// A DELETE for `key`.
    func delete(_ key: String) -> HTTPRequest
    /// A label for messages (no credentials).
    func label(_ key: String) -> String
}

extension ObjectStore {
    /// What the prefix-relative path of `key` is, or nil when `key` is not under the URL's key.
    func relative(_ key: String) -> String? {
        let prefix = url.key
        if prefix.isEmpty { return key }
        if key == prefix { return Self.basename(key) }
        let base = prefix.hasSuffix("/") ? prefix : prefix + "/"
        return key.hasPrefix(base) ? String(key.dropFirst(base.count)) : nil
    }

    static func basename(_ key: String) -> String {
        key.split(separator: "/").last.map(String.init) ?? key
    }

    /// Percent-encodes a key for a URL path (AWS's rules: unreserved characters and `/` kept).
    static func encodePath(_ key: String) -> String {
        encode(key, keepSlash: true)
    }

    static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                let digits = Array("0123456789ABCDEF")
                out += "%\(digits[Int(byte >> 4)])\(digits[Int(byte & 0xF)])"
            }
        }
        return out
    }

    /// A sorted, encoded query string (SigV4 wants a canonical order and `k=` for flags).
    static func query(_ items: [(String, String)]) -> String {
        items.sorted { $0.0 < $1.0 }.map { "\(encode($0.0, keepSlash: false))=\(encode($0.1, keepSlash: false))" }.joined(separator: "&")
    }
}

/// Opens the store for a URL with the right credentials.
public enum ObjectStores {
    public static func open(_ url: DataURL, credentials: DataCredentials) throws -> any ObjectStore {
        switch url.scheme {
        case .s3, .gs, .tos, .swift: try S3Store(url: url, credential: credentials.credential(for: url), environment: credentials.environment)
        case .azure: try AzureStore(url: url, credential: credentials.credential(for: url))
        case .http, .https: HTTPStore(url: url)
        case .file: throw OsmoError(.internalError, "file URLs are handled without a store")
        }
    }
}
