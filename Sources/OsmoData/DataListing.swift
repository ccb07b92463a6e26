import Glibc
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// `osmo data list`: what a URL holds, as the reference CLI lists it (`storage.Client.list_objects`
/// and the backends' `list_objects`).
///
/// The listed key is `os.path.join(<URL path>, <prefix>)`. A key that does not end in `/` is
/// first looked up as one object (HEAD); if it exists, it alone is listed. Otherwise the key gets
/// a `/` and everything under it is listed: recursively, or one level with the "directories"
/// (S3 CommonPrefixes, Azure BlobPrefix) as entries ending in `/`, before the objects of each
/// page. Each entry is the full key inside the bucket or container (the absolute path for
/// `file://`); the regex is matched, anchored at the start, against the path relative to the
/// listed key (a directory without its trailing `/`).
public enum DataListing {
    /// One line of a listing.
    public struct Entry: Sendable, Equatable {
        /// The full key (bucket-relative; the absolute path for `file://`; the URL for `http`).
        public var key: String
        /// A "directory" of a non-recursive listing; its key ends in `/`.
        public var isDirectory: Bool
        public var size: Int64?

        public init(key: String, isDirectory: Bool = false, size: Int64? = nil) {
            self.key = key
            self.isDirectory = isDirectory
            self.size = size
        }
    }

    /// The reference's listing of `text` (with `--prefix` and `--recursive`).
    public static func entries(_ text: String, prefix: String = "", regex: String?, recursive: Bool,
                               credentials: DataCredentials) throws -> [Entry] {
        let url = try DataURL(text)
        return try entries(url, key: joined(path(of: url), prefix), regex: regex, recursive: recursive, credentials: credentials)
    }

    /// What `entries` would list for `key` inside `url`'s bucket (the delete command lists the
    /// URL's own key, without the join that adds a `/`).
    static func entries(_ url: DataURL, key: String, regex: String?, recursive: Bool, credentials: DataCredentials) throws -> [Entry] {
        let filter = try PathFilter(regex)
        switch url.scheme {
        case .file:
            return try LocalListing(key: key, filter: filter, recursive: recursive).run()
        case .http, .https:
            return [Entry(key: url.text)]
        case .s3, .gs, .tos, .swift:
            let store = try S3Store(url: url, credential: credentials.credential(for: url))
            return try store.referenceListing(key, filter: filter, recursive: recursive, engine: try TransferEngine.shared())
        case .azure:
            let store = try AzureStore(url: url, credential: credentials.credential(for: url))
            return try store.referenceListing(key, filter: filter, recursive: recursive, engine: try TransferEngine.shared())
        }
    }

    /// The warning the reference logs when nothing was listed.
    public static func emptyWarning(_ text: String, prefix: String = "", regex: String?) -> String {
        if let regex, !regex.isEmpty { return "No entries matched regex \(regex)" }
        let key = (try? DataURL(text)).map { joined(path(of: $0), prefix) } ?? prefix
        return "No entries found for prefix: \(key)"
    }

    /// The reference's `storage_backend.path`: the URL's key without leading `/`, runs of `/`
    /// collapsed, a trailing `/` kept. For `file://` the absolute path, collapsed the same way.
    static func path(of url: DataURL) -> String {
        var out = ""
        for character in url.key where !(character == "/" && out.hasSuffix("/")) { out.append(character) }
        if url.scheme == .file { return out }
        while out.hasPrefix("/") { out.removeFirst() }
        return out
    }

    /// `os.path.join(path, prefix)`: an absolute prefix replaces the path; an empty one adds `/`.
    static func joined(_ path: String, _ prefix: String) -> String {
        if prefix.hasPrefix("/") { return prefix }
        if path.isEmpty || path.hasSuffix("/") { return path + prefix }
        return path + "/" + prefix
    }

    /// `os.path.relpath(key, base)` for a key under `base` (which is empty or ends in `/`):
    /// normalised, without a trailing `/`.
    static func relative(_ key: String, to base: String) -> String {
        let rest = key.hasPrefix(base) ? key.dropFirst(base.count) : key[...]
        var parts: [Substring] = []
        for part in rest.split(separator: "/") where part != "." {
            if part == "..", !parts.isEmpty, parts.last != ".." { parts.removeLast() } else { parts.append(part) }
        }
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// A page size for object-store listings: `OSMO_S3_PAGINATOR_SIZE` as the reference, else 1000.
    static var pageSize: Int {
        getenv("OSMO_S3_PAGINATOR_SIZE").flatMap { Int(String(cString: $0)) }.map { max(1, $0) } ?? 1000
    }
}

/// A `file://` listing in the reference's shape: a file named exactly is listed alone; a
/// directory lists its tree (recursive) or its entries with subdirectories as `name/` first.
struct LocalListing {
    let key: String
    let filter: PathFilter
    let recursive: Bool

    func run() throws -> [DataListing.Entry] {
        var base = key
        if !base.isEmpty, !base.hasSuffix("/") {
            if let st = FileSystem.status(base), st.st_mode & S_IFMT != S_IFDIR {
                return [DataListing.Entry(key: base, size: Int64(st.st_size))]
            }
            base += "/"
        }
        guard FileSystem.isDirectory(base) else { return [] }
        if recursive {
            let walked = try FileSystem.walk(base).map { DataListing.Entry(key: base + $0.relativePath, size: $0.size) }
            return try filter.select(walked) { [base] in DataListing.relative($0.key, to: base) }
        }
        var directories: [DataListing.Entry] = []
        var files: [DataListing.Entry] = []
        for name in try FileSystem.contents(of: base).sorted() {
            var st = stat()
            guard lstat(base + name, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: directories.append(DataListing.Entry(key: base + name + "/", isDirectory: true))
            case S_IFREG, S_IFLNK: files.append(DataListing.Entry(key: base + name, size: Int64(st.st_size)))
            default: continue
            }
        }
        return try filter.select(directories + files) { [base] in DataListing.relative($0.key, to: base) }
    }
}
