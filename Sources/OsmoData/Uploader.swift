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

    /// The files `paths` name (directories walked; a file keeps its basename), filtered.
    public static func collect(_ paths: [String], regex: String?) throws -> [(path: String, relative: String, size: Int64)] {
        let filter = try PathFilter(regex)
        var files: [(String, String, Int64)] = []
        for path in paths {
            let isDirectory = FileSystem.isDirectory(path)
            for entry in try FileSystem.walk(path) where filter.matches(entry.relativePath) {
                let full = isDirectory ? Path.join(path, entry.relativePath) : path
                let size = FileSystem.status(full).map { Int64($0.st_size) } ?? entry.size
                files.append((full, entry.relativePath, size))
            }
        }
        return files
    }

    public func upload(_ paths: [String], to text: String, regex: String? = nil) throws -> TransferRecord {
        let url = try DataURL(text)
        let files = try Uploader.collect(paths, regex: regex)
        var record = TransferRecord(url: text, start: Clock.epochSeconds)
        progress.expect(bytes: files.reduce(0) { $0 + $1.size }, files: files.count)
        if url.scheme == .file {
            try FileSystem.makeDirectory(url.key, mode: 0o755)
            try LocalCopy(progress: progress).upload(files, to: url.key, record: &record)
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
                        key = url.appending(HTTPStore.encodePath(file.relative))
                    } else {
                        key = url.key.isEmpty ? file.relative : (url.key.hasSuffix("/") ? url.key : url.key + "/") + file.relative
                    }
                    do {
                        _ = try store.put(key, size: file.size, engine: engine) { offset, length in
                            let bytes = try Uploader.read(file.path, offset: offset, length: length)
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
    static func read(_ path: String, offset: Int64, length: Int) throws -> [UInt8] {
        let fd = try SystemCall.retrying("cannot open \(path)", .upload) { open(path, O_RDONLY | O_CLOEXEC) }
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
