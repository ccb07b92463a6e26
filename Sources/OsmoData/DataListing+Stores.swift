import OsmoCore
import OsmoTransfer

/// The reference listing (`DataListing`) in each store's dialect: an object-exists HEAD, then
/// pages of ListObjectsV2 (S3) or List Blobs (Azure), with `delimiter=/` when not recursive.
extension S3Store {
    func referenceListing(_ key: String, filter: PathFilter, recursive: Bool, engine: TransferEngine) throws -> [DataListing.Entry] {
        var base = key
        if !base.isEmpty, !base.hasSuffix("/") {
            if let size = try headObject(base, engine: engine) { return [DataListing.Entry(key: base, size: size)] }
            base += "/"
        }
        var entries: [DataListing.Entry] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("max-keys", "\(DataListing.pageSize)")]
            if !base.isEmpty { query.append(("prefix", base)) }
            if !recursive { query.append(("delimiter", "/")) }
            if let token { query.append(("continuation-token", token)) }
            let request = HTTPRequest(url: "\(self.base)/?\(Self.query(query))", signing: signing, label: "list \(url)")
            let body = try engine.perform(request).bodyText
            var page: [DataListing.Entry] = []
            if !recursive {
                for record in XMLText.blocks("CommonPrefixes", in: body) {
                    guard let prefix = XMLText.first("Prefix", in: record), !prefix.isEmpty else { continue }
                    page.append(DataListing.Entry(key: prefix, isDirectory: true))
                }
            }
            for record in XMLText.blocks("Contents", in: body) {
                guard let name = XMLText.first("Key", in: record), !name.hasSuffix("/") else { continue }
                page.append(DataListing.Entry(key: name, size: XMLText.first("Size", in: record).flatMap { Int64($0) }))
            }
            entries += try filter.select(page) { [base] in DataListing.relative($0.key, to: base) }
            token = XMLText.first("IsTruncated", in: body) == "true" ? XMLText.first("NextContinuationToken", in: body) : nil
        } while token != nil
        return entries
    }

    /// The object's size if `key` names one (HEAD 200), nil if not (404); other answers throw.
    func headObject(_ key: String, engine: TransferEngine) throws -> Int64? {
        var request = HTTPRequest(url: objectURL(key), method: "HEAD", signing: signing, label: label(key))
        request.acceptAnyStatus = true
        let response = try engine.perform(request)
        return try DataListing.existence(response, label: label(key))
    }
}

extension AzureStore {
    func referenceListing(_ key: String, filter: PathFilter, recursive: Bool, engine: TransferEngine) throws -> [DataListing.Entry] {
        var base = key
        if !base.isEmpty, !base.hasSuffix("/") {
            var request = HTTPRequest(url: blobURL(base), method: "HEAD", headers: Self.headers, label: label(base))
            request.acceptAnyStatus = true
            if let size = try DataListing.existence(try engine.perform(request), label: label(base)) {
                return [DataListing.Entry(key: base, size: size)]
            }
            base += "/"
        }
        var entries: [DataListing.Entry] = []
        var marker: String?
        repeat {
            var query = [("restype", "container"), ("comp", "list"), ("maxresults", "\(DataListing.pageSize)")]
            if !base.isEmpty { query.append(("prefix", base)) }
            if !recursive { query.append(("delimiter", "/")) }
            if let marker { query.append(("marker", marker)) }
            let listURL = "\(self.base)?\(([Self.query(query), sas].filter { !$0.isEmpty }).joined(separator: "&"))"
            let body = try engine.perform(HTTPRequest(url: listURL, headers: Self.headers, label: "list \(url)")).bodyText
            var page: [DataListing.Entry] = []
            for record in XMLText.blocks("BlobPrefix", in: body) where !recursive {
                guard var name = XMLText.first("Name", in: record), !name.isEmpty else { continue }
                if !name.hasSuffix("/") { name += "/" }
                page.append(DataListing.Entry(key: name, isDirectory: true))
            }
            for record in XMLText.blocks("Blob", in: body) {
                guard let name = XMLText.first("Name", in: record), !name.hasSuffix("/") else { continue }
                page.append(DataListing.Entry(key: name, size: XMLText.first("Content-Length", in: record).flatMap { Int64($0) }))
            }
            // The service returns blobs and prefixes interleaved in name order (walk_blobs' order).
            page.sort { $0.key < $1.key }
            entries += try filter.select(page) { [base] in DataListing.relative($0.key, to: base) }
            let next = XMLText.first("NextMarker", in: body) ?? ""
            marker = next.isEmpty ? nil : next
        } while marker != nil
        return entries
    }
}

extension DataListing {
    /// A HEAD answer: the size when it exists, nil for 404, an error naming the store's answer
    /// otherwise (403 is `unauthorized`, as for every other request).
    static func existence(_ response: HTTPResponse, label: String) throws -> Int64? {
        switch response.status {
        case 200..<300: return response.objectSize ?? 0
        case 404: return nil
        case 401, 403: throw OsmoError(.unauthorized, "HEAD \(label): HTTP \(response.status) (access denied: check the credentials for this bucket)")
        default: throw OsmoError(.io, "HEAD \(label): HTTP \(response.status)")
        }
    }
}
