import Glibc
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// Uploads files and directory trees under a data URL: small files in one PUT each, from a few
/// worker threads at once; large ones as parallel multipart uploads.
public final class Uploader: Sendable {
    public let credentials: DataCredentials
    public let progress: TransferProgress
    static let workers = 8

    public init(credentials: DataCredentials, progress: TransferProgress = TransferProgress()) {
        self.credentials = credentials
        self.progress = progress
    }

    /// One file to upload: where to read it and the object key it gets (relative to the URL).
    public struct File: Sendable {
        /// Read beneath this root (nil: `relative` is a path the user named, read as given).
        public let root: ConfinedDirectory?
        public let relative: String
        public let key: String
        public let size: Int64

        /// The path for messages.
        public var path: String { root.map { Path.join($0.path, relative) } ?? relative }

        /// Opens it for reading, anew beneath its root: a file swapped for a symlink since the
        /// walk is still not followed outside.
        func open() throws -> Int32 {
            guard let root else {
                return try SystemCall.retrying("cannot open \(path)", .upload) { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
            }
            let fd = root.rawOpen(relative, flags: O_RDONLY, symlinks: .followInside)
            guard fd >= 0 else { throw OsmoError(.upload, root.failure(relative, errno: -fd, doing: "read").message) }
            return fd
        }
    }

    /// What `collect` found: the files, and what it skipped on purpose (for the log).
    public struct Collection: Sendable {
        public var files: [File] = []
        public var skipped: [String] = []
    }

    /// The files `paths` name, with the reference's key rule (`get_upload_relative_path`):
    /// `DIR` (with or without a trailing `/`) keeps `DIR/…`, `DIR/*` uploads the contents, a
    /// file keeps its basename. Inside a directory nothing outside it is read: a symlink that
    /// resolves outside is skipped, a symlinked directory is not descended (as the reference's
    /// `os.walk`), and every file is opened beneath the directory by the kernel.
    public static func collect(_ paths: [String], regex: String?) throws -> Collection {
        let filter = try PathFilter(regex)
        var collection = Collection()
        for given in paths {
            let contentsOnly = given.hasSuffix("/*")
            let path = contentsOnly ? String(given.dropLast(2)) : given
            guard let st = FileSystem.status(path) else {
                throw OsmoError(.notFound, "\(path): no such file or directory")
            }
            guard st.st_mode & S_IFMT == S_IFDIR else {
                if contentsOnly { throw OsmoError(.invalidInput, "\(given): \(path) is not a directory") }
                let name = Path.basename(path)
                if filter.matches(name) { collection.files.append(File(root: nil, relative: path, key: name, size: Int64(st.st_size))) }
                continue
            }
            let root = try ConfinedDirectory(path)
            let prefix = contentsOnly ? "" : Path.basename(path) + "/"
            try collectTree(root, prefix: prefix, filter: filter, into: &collection)
        }
        return collection
    }

    /// One output file beneath `root` (a KPI file): read confined, keyed by its basename.
    public static func confinedFile(_ relative: String, in rootPath: String) throws -> File {
        let root = try ConfinedDirectory(rootPath)
        let fd = root.rawOpen(relative, flags: O_RDONLY | O_NONBLOCK, symlinks: .followInside)
        guard fd >= 0 else { throw root.failure(relative, errno: -fd, doing: "read") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw OsmoError(.invalidInput, "\(Path.join(rootPath, relative)) is not a regular file")
        }
        return File(root: root, relative: relative, key: Path.basename(relative), size: Int64(st.st_size))
    }

    private static func collectTree(_ root: ConfinedDirectory, prefix: String, filter: PathFilter, into collection: inout Collection) throws {
        for entry in try filter.select(try FileSystem.walk(root.path), path: { prefix + $0.relativePath }) {
            let key = prefix + entry.relativePath
            guard entry.isSymlink else {
                collection.files.append(File(root: root, relative: entry.relativePath, key: key, size: entry.size))
                continue
            }
            let fd = root.rawOpen(entry.relativePath, flags: O_RDONLY | O_NONBLOCK, symlinks: .followInside)
            guard fd >= 0 else {
                let target = FileSystem.readLink(Path.join(root.path, entry.relativePath)) ?? "?"
                collection.skipped.append("\(Path.join(root.path, entry.relativePath)): skipped, a symlink that leads outside \(root.path) (\(target))")
                continue
            }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                collection.files.append(File(root: root, relative: entry.relativePath, key: key, size: Int64(st.st_size)))
            case S_IFDIR:
                collection.skipped.append("\(Path.join(root.path, entry.relativePath)): skipped, a symlink to a directory (not followed)")
            default:
                collection.skipped.append("\(Path.join(root.path, entry.relativePath)): skipped, not a regular file")
            }
        }
    }

    public func upload(_ paths: [String], to text: String, regex: String? = nil) throws -> TransferRecord {
        let collection = try Uploader.collect(paths, regex: regex)
        var record = try upload(collection.files, to: text)
        record.warnings = collection.skipped
        return record
    }

    public func upload(_ files: [File], to text: String) throws -> TransferRecord {
        let url = try DataURL(text)
        var record = TransferRecord(url: text, start: Clock.epochSeconds)
        progress.expect(bytes: files.reduce(0) { $0 + $1.size }, files: files.count)
        if url.scheme == .file {
            try LocalCopy(progress: progress).upload(files, to: try ConfinedDirectory(url.key, create: true), record: &record)
            record.end = Clock.epochSeconds
            return record
        }
        let engine = try TransferEngine.shared()
        let store = try ObjectStores.open(url, credentials: credentials)
        let queue = ConditionLock((next: 0, running: Uploader.workers, bytes: Int64(0), files: 0, errors: [OsmoError]()))
        for _ in 0..<Uploader.workers {
            ThreadStarter.detach { [progress] in
                while true {
                    let index: Int? = queue.withLock { s in
                        guard s.next < files.count else { return nil }
                        defer { s.next += 1 }
                        return s.next
                    }
                    guard let index else { break }
                    let file = files[index]
                    let key: String
                    if url.scheme == .http || url.scheme == .https {
                        key = url.appending(HTTPStore.encodePath(file.key))
                    } else {
                        key = url.key.isEmpty ? file.key : (url.key.hasSuffix("/") ? url.key : url.key + "/") + file.key
                    }
                    do {
                        _ = try store.put(key, size: file.size, engine: engine) { offset, length in
                            let bytes = try Uploader.read(file, offset: offset, length: length)
                            progress.add(bytes: Int64(bytes.count))
                            return bytes
                        }
                        progress.add(files: 1)
                        queue.withLock { $0.files += 1; $0.bytes += file.size }
                    } catch {
                        queue.withLock { $0.errors.append(error as? OsmoError ?? OsmoError(.upload, "\(file.path): \(error)")) }
                    }
                }
                queue.withLock { $0.running -= 1 }
            }
        }
        let final = queue.wait { $0.running == 0 ? $0 : nil }!
        record.bytes = final.bytes
        record.files = final.files
        record.end = Clock.epochSeconds
        if !final.errors.isEmpty { throw Downloader.combine(final.errors, total: files.count, verb: "upload") }
        return record
    }

    /// `length` bytes at `offset`: exactly, or an error (the file shrank under us).
    static func read(_ file: File, offset: Int64, length: Int) throws -> [UInt8] {
        let path = file.path
        let fd = try file.open()
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = try SystemCall.retrying("cannot read \(path)", .upload) {
                bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(offset) + off_t(done)) }
            }
            if n == 0 { throw OsmoError(.upload, "\(path) changed size while it was being uploaded") }
            done += n
        }
        return bytes
    }
}
