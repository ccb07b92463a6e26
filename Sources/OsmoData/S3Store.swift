import OsmoCore
import OsmoTransfer
import OsmoSystem
import Synchronization

/// S3 and the stores that speak its API (GCS interoperability with HMAC keys, TOS, Swift's S3
/// layer, MinIO, moto): SigV4 by libcurl; the bucket in the host or the path as `S3Addressing`
/// decides (the reference's boto3 client).
public struct S3Store: ObjectStore {
    public let url: DataURL
    let base: String
    let signing: AWSSigning?
    public let addressing: S3Addressing
    /// Parts of a multipart upload; objects up to this size go in one PUT.
    public static let partSize = 8 << 20

    public init(url: DataURL, credential: DataCredential, environment: [String: String] = DataCredentials.processEnvironment()) throws {
        self.url = url
        addressing = try S3Addressing(url: url, credential: credential, environment: environment)
        base = addressing.base
        if let id = credential.accessKeyID, let secret = credential.accessKey, !id.isEmpty {
            signing = AWSSigning(accessKeyID: id, secretAccessKey: secret, sessionToken: credential.sessionToken, region: addressing.region)
        } else {
            signing = nil // built without keys in code: unsigned requests
        }
    }

    public func label(_ key: String) -> String {
        let scope = switch url.scheme {
        case .tos: "\(url.account)/\(url.bucket)"
        case .swift: "\(url.account)/\(url.namespace)/\(url.bucket)"
        default: url.bucket
        }
        return "\(url.scheme.rawValue)://\(scope)/\(key)"
    }

    func objectURL(_ key: String, _ query: [(String, String)] = []) -> String {
        let path = "\(base)/\(Self.encodePath(key))"
        return query.isEmpty ? path : "\(path)?\(Self.query(query))"
    }

    public func list(_ engine: TransferEngine) throws -> [RemoteObject] {
        var objects: [RemoteObject] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", url.key)]
            if let token { query.append(("continuation-token", token)) }
            let request = HTTPRequest(url: "\(base)/?\(Self.query(query))", signing: signing, label: "list \(url)")
            let body = try engine.perform(request).bodyText
            for record in XMLText.blocks("Contents", in: body) {
                guard let key = XMLText.first("Key", in: record), let relative = relative(key), !relative.isEmpty,
                      !key.hasSuffix("/") else { continue }
                let size = XMLText.first("Size", in: record).flatMap { Int64($0) }
                let etag = XMLText.first("ETag", in: record).map { $0.trimmingQuotes() }
                objects.append(RemoteObject(key: key, relativePath: relative, size: size, etag: etag))
            }
            token = XMLText.first("IsTruncated", in: body) == "true" ? XMLText.first("NextContinuationToken", in: body) : nil
        } while token != nil
        return objects
    }

    public func get(_ key: String, sink: any ResponseSink) -> HTTPRequest {
        HTTPRequest(url: objectURL(key), signing: signing, sink: sink, label: label(key))
    }

    public func put(_ key: String, size: Int64, engine: TransferEngine, read: @escaping @Sendable (Int64, Int) throws -> [UInt8]) throws -> String? {
        if size <= Int64(Self.partSize) {
            let response = try engine.perform(HTTPRequest(url: objectURL(key), method: "PUT", body: try read(0, Int(size)), signing: signing, label: label(key)))
            return response.etag
        }
        return try MultipartUpload(store: self, key: key, size: size, engine: engine, read: read).run()
    }

    public func delete(_ key: String) -> HTTPRequest {
        request(key, [], method: "DELETE")
    }

    func request(_ key: String, _ query: [(String, String)], method: String, body: [UInt8]? = nil) -> HTTPRequest {
        HTTPRequest(url: objectURL(key, query), method: method, body: body, signing: signing, label: label(key))
    }
}

/// An S3 multipart upload: parts in parallel (bounded, so memory stays parts × in-flight), and
/// resumable: an upload id of an interrupted run for the same key and size is found with
/// ListMultipartUploads, its finished parts listed and skipped.
struct MultipartUpload {
    let store: S3Store
    let key: String
    let size: Int64
    let engine: TransferEngine
    let read: @Sendable (Int64, Int) throws -> [UInt8]
    static let inFlight = 6

    func run() throws -> String? {
        let partSize = Int64(max(S3Store.partSize, Int((size + 9_999) / 10_000)))
        let count = Int((size + partSize - 1) / partSize)
        let uploadID: String
        var done: [Int: String] = [:]
        if let existing = try findUpload() {
            uploadID = existing
            done = try listParts(existing, partSize: partSize)
        } else {
            let created = try engine.perform(store.request(key, [("uploads", "")], method: "POST", body: []))
            guard let id = XMLText.first("UploadId", in: created.bodyText) else {
                throw OsmoError(.upload, "\(store.label(key)): no UploadId in the answer to CreateMultipartUpload")
            }
            uploadID = id
        }
        let state = ConditionLock((next: 1, running: 0, etags: done, failure: OsmoError?.none))
        while true {
            let part: Int? = state.wait { s in
                if s.failure != nil { return -1 }
                while s.next <= count && s.etags[s.next] != nil { s.next += 1 }
                if s.next > count { return s.running == 0 ? 0 : nil }
                guard s.running < MultipartUpload.inFlight else { return nil }
                s.running += 1
                s.next += 1
                return s.next - 1
            }
            guard let part, part > 0 else { break }
            let offset = Int64(part - 1) * partSize
            let body: [UInt8]
            do { body = try read(offset, Int(min(partSize, size - offset))) } catch {
                state.withLock { $0.failure = error as? OsmoError ?? OsmoError(.io, "\(error)"); $0.running -= 1 }
                break
            }
            let request = store.request(key, [("partNumber", "\(part)"), ("uploadId", uploadID)], method: "PUT", body: body)
            engine.submit(request) { result in
                state.withLock { s in
                    s.running -= 1
                    switch result {
                    case .success(let response): s.etags[part] = response.etag ?? ""
                    case .failure(let error): s.failure = s.failure ?? error
                    }
                }
            }
        }
        _ = state.wait { $0.running == 0 ? true : nil }
        let final = state.withLock { $0 }
        if let failure = final.failure { throw failure } // the upload id stays: the next run resumes it
        var xml = "<CompleteMultipartUpload>"
        for part in 1...count { xml += "<Part><PartNumber>\(part)</PartNumber><ETag>\"\(XMLText.escape(final.etags[part] ?? ""))\"</ETag></Part>" }
        xml += "</CompleteMultipartUpload>"
        let response = try engine.perform(store.request(key, [("uploadId", uploadID)], method: "POST", body: Array(xml.utf8)))
        if XMLText.first("Code", in: response.bodyText) != nil {
            throw OsmoError(.upload, "\(store.label(key)): CompleteMultipartUpload failed: \(response.bodyText.prefix(300))")
        }
        return XMLText.first("ETag", in: response.bodyText)?.trimmingQuotes()
    }

    /// The newest unfinished upload of this key, if any.
    private func findUpload() throws -> String? {
        let request = HTTPRequest(url: "\(store.base)/?\(S3Store.query([("prefix", key), ("uploads", "")]))", signing: store.signing, label: "list uploads of \(store.label(key))")
        guard let response = try? engine.perform(request) else { return nil }
        return XMLText.blocks("Upload", in: response.bodyText)
            .filter { XMLText.first("Key", in: $0) == key }
            .compactMap { XMLText.first("UploadId", in: $0) }
            .last
    }

    /// Parts already stored with the expected size.
    private func listParts(_ uploadID: String, partSize: Int64) throws -> [Int: String] {
        var done: [Int: String] = [:]
        var marker: String?
        repeat {
            var query = [("uploadId", uploadID)]
            if let marker { query.append(("part-number-marker", marker)) }
            let body = try engine.perform(store.request(key, query, method: "GET")).bodyText
            for part in XMLText.blocks("Part", in: body) {
                guard let number = XMLText.first("PartNumber", in: part).flatMap({ Int($0) }),
                      let partBytes = XMLText.first("Size", in: part).flatMap({ Int64($0) }),
                      let etag = XMLText.first("ETag", in: part)?.trimmingQuotes() else { continue }
                let expected = min(partSize, size - Int64(number - 1) * partSize)
                if partBytes == expected { done[number] = etag }
            }
            marker = XMLText.first("IsTruncated", in: body) == "true" ? XMLText.first("NextPartNumberMarker", in: body) : nil
        } while marker != nil
        return done
    }
}
