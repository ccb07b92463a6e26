import Glibc
import OsmoCore
import OsmoSystem

/// Writes extracted entries to disk with a small pool of threads, so that decompressing the
/// archive (one thread) and creating files (kernel time) overlap instead of taking turns.
///
/// Every path is resolved by the kernel beneath the (fresh) extraction root with no symlink
/// followed (`ConfinedDirectory`, policy `.refuse`): whatever the entries' names and links say,
/// nothing is created outside it. Directories are created at once (so their contents always
/// have a parent); hardlinks and then symlinks wait until every file exists; each symlink is
/// then resolved for real and removed (refused) if it leads outside; directory modes and
/// times are applied last, deepest first, through descriptors (never by following a path).
///
/// "A later entry of the same name wins", as with tar: a file or directory entry cancels a link
/// still waiting under that name, a link replaces a file of its name, and a file waits until
/// an earlier file of its name has been written.
///
/// Concurrency model: the decoding thread alone calls `directory`, `symlink`, `hardlink`,
/// `stream`, `finish` and `abandon` and owns the link and directory lists; the pool threads
/// only take `FileJob`s from `queue` (a `ConditionLock`) and write them through the shared,
/// immutable root descriptor.
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
        /// Paths with a job queued or being written: a later entry of the same name waits for
        /// it, or two pool threads could write the two versions in either order.
        var unwritten = Set<String>()
    }

    enum Link {
        case symlink(target: String)
        case hardlink(target: String)
    }

    /// Bytes of whole files waiting for a writer; small, since the writers keep up (the bound
    /// only caps memory when the disk is the slow side).
    static let queueLimit = 16 << 20
    private let queue = ConditionLock(Queue())
    private var directories: [(path: String, mode: mode_t, mtime: timespec?)] = []
    /// Links in entry order; a cancelled one is nil.
    private var links: [(path: String, link: Link)?] = []
    private var linkIndex: [String: Int] = [:]
    private var symlinkPaths = Set<String>()
    let root: ConfinedDirectory

    init(root: ConfinedDirectory, threads: Int) {
        self.root = root
        queue.withLock { $0.running = threads }
        for _ in 0..<threads {
            ThreadStarter.detach { [self] in work() }
        }
    }

    /// True when `relative` would pass through a symlink this extraction created (for a precise
    /// refusal; the kernel refuses it anyway).
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
        cancelLink(relative)
        close(try root.openDirectory(relative, create: true, symlinks: .refuse))
        directories.append((relative, mode, mtime))
    }

    func symlink(_ relative: String, target: String) {
        addLink(relative, .symlink(target: target))
        symlinkPaths.insert(relative)
    }

    func hardlink(_ relative: String, to targetRelative: String) {
        addLink(relative, .hardlink(target: targetRelative))
    }

    private func addLink(_ relative: String, _ link: Link) {
        cancelLink(relative)
        linkIndex[relative] = links.count
        links.append((relative, link))
    }

    /// A later entry of the same name wins over a link that has not been made yet.
    private func cancelLink(_ relative: String) {
        guard let index = linkIndex.removeValue(forKey: relative) else { return }
        links[index] = nil
        symlinkPaths.remove(relative)
    }

    /// Queues a whole file (blocks while too much is queued).
    func file(_ job: FileJob) throws {
        cancelLink(job.path)
        let size = job.data.count
        try queue.wait { q -> Result<Void, OsmoError>? in
            if let failure = q.failure { return .failure(failure) }
            guard q.queuedBytes < DiskWriter.queueLimit, !q.unwritten.contains(job.path) else { return nil }
            q.jobs.append(job)
            q.queuedBytes += size
            q.unwritten.insert(job.path)
            return .success(())
        }!.get()
    }

    /// A file written on the calling thread, block by block (large, sparse or unsized entries).
    final class StreamFile {
        let fd: Int32
        let display: String
        private(set) var end: Int64 = 0

        init(fd: Int32, display: String) {
            self.fd = fd
            self.display = display
        }

        deinit { close(fd) }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            try FileSystem.writeAll(fd, bytes, at: offset, path: display)
            end = max(end, offset + Int64(bytes.count))
        }

        /// Sets the length (a sparse file's trailing hole), mode and time.
        func finish(length: Int64, mode: mode_t, mtime: timespec?) throws {
            if ftruncate(fd, off_t(max(length, end))) != 0 { throw FileSystem.writeFailure(display, errno: errno) }
            DiskWriter.finish(fd, mode: mode, mtime: mtime)
        }
    }

    func openStream(_ relative: String) throws -> StreamFile {
        cancelLink(relative)
        try queue.wait { q -> Result<Void, OsmoError>? in
            if let failure = q.failure { return .failure(failure) }
            return q.unwritten.contains(relative) ? nil : .success(())
        }!.get()
        let fd = try root.createFile(relative, symlinks: .refuse)
        return StreamFile(fd: fd, display: Path.join(root.path, relative))
    }

    /// Waits for the pool, then links, then fixes directory modes and times. Returns the names
    /// of links that could not be made or were refused.
    func finish() throws -> [String] {
        queue.withLock { $0.finished = true }
        let failure = queue.wait { $0.running == 0 ? Optional($0.failure) : nil }!
        if let failure { throw failure }
        var refused: [String] = []
        let pending = links.compactMap { $0 }
        // Hardlinks first: their targets are regular files, reached without any symlink.
        for case let (path, .hardlink(target)) in pending {
            if let reason = makeHardlink(path, to: target) { refused.append("\(path): \(reason)") }
        }
        var made: [(path: String, target: String)] = []
        for case let (path, .symlink(target)) in pending {
            if let reason = makeSymlink(path, target: target) {
                refused.append("\(path): \(reason)")
            } else {
                made.append((path, target))
            }
        }
        // With every link in place, each must really resolve inside (a chain of links that each
        // look inside can lead out together).
        for (path, target) in made where !staysInside(path, target: target) {
            if let (parent, name) = try? root.parent(of: path, create: false, symlinks: .refuse) {
                unlinkat(parent, name, 0)
                close(parent)
            }
            refused.append("\(path): symlink resolves outside the destination (\(target))")
        }
        for (path, mode, mtime) in directories.sorted(by: { $0.path.count > $1.path.count }) {
            guard let fd = try? root.openDirectory(path, create: false, symlinks: .refuse) else { continue }
            DiskWriter.finish(fd, mode: mode, mtime: mtime)
            close(fd)
        }
        return refused
    }

    /// Links `relative` to the regular file `target`, both beneath the root. Nil or the reason.
    private func makeHardlink(_ relative: String, to target: String) -> String? {
        do {
            let (targetParent, targetName) = try root.parent(of: target, create: false, symlinks: .refuse)
            defer { close(targetParent) }
            var st = stat()
            guard fstatat(targetParent, targetName, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                return "hardlink target \(target) does not exist in the archive"
            }
            guard st.st_mode & S_IFMT == S_IFREG else { return "hardlink to \(target), which is not a regular file" }
            let (parent, name) = try root.parent(of: relative, create: true, symlinks: .refuse)
            defer { close(parent) }
            if linkat(targetParent, targetName, parent, name, 0) == 0 { return nil }
            var err = errno
            if err == EEXIST && Self.removeEntry(parent, name) {
                if linkat(targetParent, targetName, parent, name, 0) == 0 { return nil }
                err = errno
            }
            return "cannot create hardlink: \(SystemCall.describe(errno: err))"
        } catch {
            return "cannot create hardlink: \(error)"
        }
    }

    private func makeSymlink(_ relative: String, target: String) -> String? {
        do {
            let (parent, name) = try root.parent(of: relative, create: true, symlinks: .refuse)
            defer { close(parent) }
            if symlinkat(target, parent, name) == 0 { return nil }
            var err = errno
            if err == EEXIST && Self.removeEntry(parent, name) {
                if symlinkat(target, parent, name) == 0 { return nil }
                err = errno
            }
            return "cannot create symlink: \(SystemCall.describe(errno: err))"
        } catch {
            return "cannot create symlink: \(error)"
        }
    }

    /// Removes a file, a link or an empty directory so a later entry can take its name.
    static func removeEntry(_ parent: Int32, _ name: String) -> Bool {
        unlinkat(parent, name, 0) == 0 || unlinkat(parent, name, AT_REMOVEDIR) == 0
    }

    /// Real resolution under the kernel's check; without `openat2`, the link's lexical path
    /// may not pass through any symlink (each link is lexically inside, so by induction every
    /// chain is).
    private func staysInside(_ relative: String, target: String) -> Bool {
        if ConfinedDirectory.kernelResolution { return root.resolve(relative) != .outside }
        var parts = relative.split(separator: "/").dropLast().map(String.init)
        let steps = target.split(separator: "/").filter { $0 != "." }
        for (index, step) in steps.enumerated() {
            if step == ".." {
                guard !parts.isEmpty else { return false }
                parts.removeLast()
                continue
            }
            parts.append(String(step))
            if index < steps.count - 1, let st = root.status(parts.joined(separator: "/"), symlinks: .refuse),
               st.st_mode & S_IFMT == S_IFLNK {
                return false
            }
        }
        return true
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
                let fd = try root.createFile(job.path, symlinks: .refuse)
                defer { Glibc.close(fd) }
                let display = Path.join(root.path, job.path)
                try job.data.withUnsafeBytes { try FileSystem.writeAll(fd, $0, at: 0, path: display) }
                Self.finish(fd, mode: job.mode, mtime: job.mtime)
            } catch {
                let failure = error as? OsmoError ?? OsmoError(.io, "\(error)")
                queue.withLock { $0.failure = $0.failure ?? failure }
            }
            queue.withLock { _ = $0.unwritten.remove(job.path) }
        }
        queue.withLock { $0.running -= 1 }
    }

    static func finish(_ fd: Int32, mode: mode_t, mtime: timespec?) {
        fchmod(fd, mode)
        if let mtime {
            var times = [mtime, mtime]
            futimens(fd, &times)
        }
    }
}
