import OsmoCore

/// What came back: status, headers (names lower-cased, last value wins) and, for requests
/// without a sink, the body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public subscript(header name: String) -> String? { headers[name.lowercased()] }

    /// The ETag without quotes (S3 and nginx quote it; Azure sometimes does not).
    public var etag: String? {
        guard var value = self[header: "etag"] else { return nil }
        if value.hasPrefix("W/") { value.removeFirst(2) }
        return value.trimmingQuotes()
    }

    /// The full object size: from `Content-Range: bytes a-b/SIZE` on a 206, else Content-Length.
    public var objectSize: Int64? {
        if let range = self[header: "content-range"], let slash = range.lastIndex(of: "/") {
            return Int64(range[range.index(after: slash)...].trimmingSpaces())
        }
        return self[header: "content-length"].flatMap { Int64($0.trimmingSpaces()) }
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
