import Glibc
import OsmoCore
import OsmoSystem

/// Writes extracted entries to disk with a small pool of threads, so that decompressing the
/// archive (one thread) and creating files (kernel time) overlap instead of taking turns.
///
/// The decoder hands over whole small files; directories are created at once (so their contents
/// always have a parent), symlinks and hardlinks wait until every file exists, and directory
/// modes and times are applied last, deepest first. Only this extraction's own symlinks can be
/// in the fresh destination, so "never write through a symlink" is an exact prefix check.
final class DiskWriter: @unchecked Sendable {
    struct FileJob {
        var path: String
        var mode: mode_t
        var mtime: timespec?
        var data: [UInt8]
    }

    private struct Queue {
        var jobs: [FileJob] = []
        var head = 0
        var queuedBytes = 0
        var finished = false
        var running = 0
        var failure: OsmoError?
    }

    /// Bytes of whole files waiting for a writer; small, since the writers keep up (the bound
    /// only caps memory when the disk is the slow side).
    static let queueLimit = 16 << 20
    private let queue = ConditionLock(Queue())
    private var directories: [(path: String, mode: mode_t, mtime: timespec?)] = []
    private var symlinks: [(path: String, target: String)] = []
    private var hardlinks: [(path: String, target: String)] = []
    private var symlinkPaths = Set<String>()
    let root: String

    init(root: String, threads: Int) {
        self.root = root
        queue.withLock { $0.running = threads }
        for _ in 0..<threads {
            ThreadStarter.detach { [self] in work() }
        }
    }

    /// True when `relative` would pass through a symlink this extraction created.
    func crossesSymlink(_ relative: String) -> Bool {
        guard !symlinkPaths.isEmpty else { return false }
        var prefix = ""
        for part in relative.split(separator: "/").dropLast() {
            prefix = prefix.isEmpty ? String(part) : prefix + "/" + part
            if symlinkPaths.contains(prefix) { return true }
        }
        return false
    }

    func directory(_ relative: String, mode: mode_t, mtime: timespec?) throws {
        let path = Path.join(root, relative)
        try Self.makeDirectories(path)
        directories.append((path, mode, mtime))
    }

    func symlink(_ relative: String, target: String) {
        symlinks.append((Path.join(root, relative), target))
        symlinkPaths.insert(relative)
    }

    func hardlink(_ relative: String, to targetRelative: String) {
        hardlinks.append((Path.join(root, relative), Path.join(root, targetRelative)))
    }

    /// Queues a whole file (blocks while too much is queued).
    func file(_ job: FileJob) throws {
        let size = job.data.count
        try queue.wait { q -> Result<Void, OsmoError>? in
            if let failure = q.failure { return .failure(failure) }
            guard q.queuedBytes < DiskWriter.queueLimit else { return nil }
            q.jobs.append(job)
            q.queuedBytes += size
            return .success(())
        }!.get()
    }

    /// Writes a file on the calling thread from a block reader (large and sparse files).
    func stream(_ relative: String, mode: mode_t, mtime: timespec?, size: Int64,
                blocks: (_ write: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Void) throws {
        let path = Path.join(root, relative)
        let fd = try Self.create(path)
        defer { Glibc.close(fd) }
        try blocks { bytes, offset in try FileSystem.writeAll(fd, bytes, at: offset, path: path) }
        if ftruncate(fd, off_t(size)) != 0 { throw FileSystem.writeFailure(path, errno: errno) }
        Self.finish(fd, mode: mode, mtime: mtime)
    }

    /// Waits for the pool, then links, then fixes directory modes and times. Returns the names
    /// of links that could not be made.
    func finish() throws -> [String] {
        queue.withLock { $0.finished = true }
        let failure = queue.wait { $0.running == 0 ? Optional($0.failure) : nil }!
        if let failure { throw failure }
        var refused: [String] = []
        for (path, target) in symlinks {
            if Glibc.symlink(target, path) != 0 {
                let err = errno
                if err == EEXIST, unlink(path) == 0 || rmdir(path) == 0, Glibc.symlink(target, path) == 0 { continue }
                refused.append("\(path.dropFirst(root.count + 1)): cannot create symlink: \(SystemCall.describe(errno: err))")
            }
        }
        for (path, target) in hardlinks {
            unlink(path)
            if link(target, path) != 0 {
                refused.append("\(path.dropFirst(root.count + 1)): cannot create hardlink: \(SystemCall.describe(errno: errno))")
            }
        }
        for (path, mode, mtime) in directories.sorted(by: { $0.path.count > $1.path.count }) {
            chmod(path, mode)
            if let mtime {
                var times = [mtime, mtime]
                utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
            }
        }
        return refused
    }

    /// Abandons the queue (after a decoding failure) and waits for the threads to stop.
    func abandon() {
        queue.withLock { q in
            q.finished = true
            q.jobs = []
            q.head = 0
        }
        _ = queue.wait { $0.running == 0 ? true : nil }
    }

    private func work() {
        while true {
            let job: FileJob? = queue.wait { q -> FileJob?? in
                if q.head < q.jobs.count {
                    let job = q.jobs[q.head]
                    q.jobs[q.head].data = []
                    q.head += 1
                    q.queuedBytes -= job.data.count
                    if q.head > 256 {
                        q.jobs.removeFirst(q.head)
                        q.head = 0
                    }
                    return .some(job)
                }
                return q.finished ? .some(nil) : nil
            }!
            guard let job else { break }
            do {
                let fd = try Self.create(job.path)
                defer { Glibc.close(fd) }
                try job.data.withUnsafeBytes { try FileSystem.writeAll(fd, $0, at: 0, path: job.path) }
                Self.finish(fd, mode: job.mode, mtime: job.mtime)
            } catch {
                let failure = error as? OsmoError ?? OsmoError(.io, "\(error)")
                queue.withLock { $0.failure = $0.failure ?? failure }
            }
        }
        queue.withLock { $0.running -= 1 }
    }

    /// Creates (or truncates) a regular file, making missing parents; never follows a symlink.
    static func create(_ path: String) throws -> Int32 {
        for attempt in 0..<2 {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd >= 0 { return fd }
            let err = errno
            if err == ENOENT && attempt == 0 {
                try makeDirectories(Path.parent(path))
                continue
            }
            throw FileSystem.writeFailure(path, errno: err)
        }
        throw FileSystem.writeFailure(path, errno: ENOENT)
    }

    static func finish(_ fd: Int32, mode: mode_t, mtime: timespec?) {
        fchmod(fd, mode)
        if let mtime {
            var times = [mtime, mtime]
            futimens(fd, &times)
        }
    }

    static func makeDirectories(_ path: String) throws {
        if mkdir(path, 0o755) == 0 { return }
        let err = errno
        if err == EEXIST {
            var st = stat()
            if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return }
            throw OsmoError(.io, "cannot create directory \(path): a file of that name exists")
        }
        guard err == ENOENT else { throw FileSystem.writeFailure(path, errno: err) }
        try makeDirectories(Path.parent(path))
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw FileSystem.writeFailure(path, errno: errno) }
    }
}
