import OsmoCore
import OsmoTransfer

/// Azure Blob Storage with a SAS token: `azure://account/container/prefix`. The endpoint is
/// `https://<account>.blob.core.windows.net` unless the credential gives one (Azurite:
/// `http://127.0.0.1:10000/<account>`). Large blobs go up as blocks plus a block list.
public struct AzureStore: ObjectStore {
    public let url: DataURL
    let base: String
    let sas: String
    static let blockSize = 8 << 20
    static let headers = ["x-ms-version: 2021-08-06"]

    public init(url: DataURL, credential: DataCredential) throws {
        self.url = url
        // `endpoint` is the profile's storage URI (azure://account), never the HTTP base.
        let endpoint = credential.overrideURL ?? "https://\(url.account).blob.core.windows.net"
        base = "\(endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint)/\(url.bucket)"
        var token = credential.sasToken ?? ""
        if token.hasPrefix("?") { token.removeFirst() }
        sas = token
    }

    public func label(_ key: String) -> String { "azure://\(url.account)/\(url.bucket)/\(key)" }

    func blobURL(_ key: String, _ query: [(String, String)] = []) -> String {
        let extra = Self.query(query)
        let parts = [extra, sas].filter { !$0.isEmpty }.joined(separator: "&")
        let path = "\(base)/\(Self.encodePath(key))"
        return parts.isEmpty ? path : "\(path)?\(parts)"
    }

    public func list(_ engine: TransferEngine) throws -> [RemoteObject] {
        var objects: [RemoteObject] = []
        var marker: String?
        repeat {
            var query = [("restype", "container"), ("comp", "list"), ("prefix", url.key)]
            if let marker { query.append(("marker", marker)) }
            let listURL = "\(base)?\(([Self.query(query), sas].filter { !$0.isEmpty }).joined(separator: "&"))"
            let body = try engine.perform(HTTPRequest(url: listURL, headers: Self.headers, label: "list \(url)")).bodyText
            for blob in XMLText.blocks("Blob", in: body) {
                guard let name = XMLText.first("Name", in: blob), let relative = relative(name), !relative.isEmpty else { continue }
                let size = XMLText.first("Content-Length", in: blob).flatMap { Int64($0) }
                objects.append(RemoteObject(key: name, relativePath: relative, size: size, etag: XMLText.first("Etag", in: blob)?.trimmingQuotes()))
            }
            let next = XMLText.first("NextMarker", in: body) ?? ""
            marker = next.isEmpty ? nil : next
        } while marker != nil
        return objects
    }

    public func get(_ key: String, sink: any ResponseSink) -> HTTPRequest {
        HTTPRequest(url: blobURL(key), headers: Self.headers, sink: sink, label: label(key))
    }

    public func delete(_ key: String) -> HTTPRequest {
        HTTPRequest(url: blobURL(key), method: "DELETE", headers: Self.headers, label: label(key))
    }

    public func put(_ key: String, size: Int64, engine: TransferEngine, read: @escaping @Sendable (Int64, Int) throws -> [UInt8]) throws -> String? {
        let blobHeaders = Self.headers + ["x-ms-blob-type: BlockBlob"]
        if size <= Int64(Self.blockSize) {
            let request = HTTPRequest(url: blobURL(key), method: "PUT", headers: blobHeaders, body: try read(0, Int(size)), label: label(key))
            return try engine.perform(request).etag
        }
        var ids: [String] = []
        var offset: Int64 = 0
        while offset < size {
            let id = Base64.encode(Array("block-\(String(ids.count).leftPadded(to: 8))".utf8))
            let body = try read(offset, Int(min(Int64(Self.blockSize), size - offset)))
            _ = try engine.perform(HTTPRequest(url: blobURL(key, [("comp", "block"), ("blockid", id)]), method: "PUT", headers: Self.headers, body: body, label: label(key)))
            ids.append(id)
            offset += Int64(body.count)
        }
        let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>" + ids.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>"
        let request = HTTPRequest(url: blobURL(key, [("comp", "blocklist")]), method: "PUT", headers: Self.headers + ["Content-Type: application/xml"], body: Array(xml.utf8), label: label(key))
        return try engine.perform(request).etag
    }
}

/// Plain `http(s)://` objects: one URL, one object; uploads are a PUT of the whole file.
public struct HTTPStore: ObjectStore {
    public let url: DataURL

    public init(url: DataURL) { self.url = url }

    public func label(_ key: String) -> String { key }

    public func list(_ engine: TransferEngine) throws -> [RemoteObject] {
        [RemoteObject(key: url.text, relativePath: url.basename.isEmpty ? "index.html" : url.basename)]
    }

    public func get(_ key: String, sink: any ResponseSink) -> HTTPRequest {
        HTTPRequest(url: key, sink: sink)
    }

    public func delete(_ key: String) -> HTTPRequest {
        HTTPRequest(url: key, method: "DELETE")
    }

    public func put(_ key: String, size: Int64, engine: TransferEngine, read: @escaping @Sendable (Int64, Int) throws -> [UInt8]) throws -> String? {
        try engine.perform(HTTPRequest(url: key, method: "PUT", body: try read(0, Int(size)))).etag
    }
}

enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out = [UInt8]()
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(0) { $0 | (Int($1.element) << (16 - 8 * $1.offset)) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? table[(value >> (18 - 6 * position)) & 63] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
