import COsmoSys
import Glibc
import OsmoCore

/// Small, explicit file-system operations with precise error messages.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    /// Names in a directory, without `.` and `..`, unsorted.
    public static func contents(of path: String) throws -> [String] {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw OsmoError(.io, "cannot list \(path): \(SystemCall.describe(errno: errno))", cause: Errno(errno))
        }
        defer { close(fd) }
        return try contents(ofDescriptor: fd, path: path)
    }

    /// Names in an open directory (`fdopendir` of a duplicate: `fd` stays open and usable).
    public static func contents(ofDescriptor fd: Int32, path: String) throws -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            let err = errno
            throw OsmoError(.io, "cannot list \(path): \(SystemCall.describe(errno: err))", cause: Errno(err))
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// `mkdir -p` and then an explicit `chmod` (the umask must not decide a shared volume's mode).
    public static func makeDirectory(_ path: String, mode: mode_t, intermediates: Bool = true) throws {
        if intermediates {
            let parent = Path.parent(path)
            if parent != path && !parent.isEmpty && !exists(parent) {
                try makeDirectory(parent, mode: 0o755, intermediates: true)
            }
        }
        if mkdir(path, mode) != 0 {
            let err = errno
            guard err == EEXIST, isDirectory(path) else {
                throw OsmoError(.io, "cannot create directory \(path): \(SystemCall.describe(errno: err))", cause: Errno(err))
            }
        }
        try setMode(path, mode)
    }

    public static func setMode(_ path: String, _ mode: mode_t) throws {
        try SystemCall.retrying("cannot chmod \(path)") { chmod(path, mode) }
    }

    public static func remove(_ path: String) {
        if unlink(path) != 0 && errno == EISDIR { rmdir(path) }
    }

    /// Reads a whole (small) file.
    public static func readFile(_ path: String) throws -> [UInt8] {
        let fd = try SystemCall.retrying("cannot open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try SystemCall.retrying("cannot read \(path)") {
                buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    /// Reads a whole (small) file as UTF-8 text.
    public static func readText(_ path: String) throws -> String {
        String(decoding: try readFile(path), as: UTF8.self)
    }

    /// Writes a string's UTF-8 to `fd` (stderr messages, test input).
    public static func writeAll(_ fd: Int32, _ text: String, what: @autoclosure () -> String) throws {
        var text = text
        try text.withUTF8 { try writeAll(fd, UnsafeRawBufferPointer($0), what: what()) }
    }

    /// Writes all bytes to `fd`, retrying short writes and `EINTR`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, what: @autoclosure () -> String) throws {
        var done = 0
        while done < bytes.count {
            let n = try SystemCall.retrying(what()) { write(fd, bytes.baseAddress! + done, bytes.count - done) }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset` (`pwrite`), retrying short writes and `EINTR`. A full disk
    /// and a file-size limit are named as such: they are the failures a user can act on.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw writeFailure(path, errno: errno)
            }
            done += n
        }
    }

    public static func writeFailure(_ path: String, errno err: Int32) -> OsmoError {
        let reason = err == ENOSPC ? "no space left on device"
            : err == EFBIG ? "file too large for this file system or limit" : SystemCall.describe(errno: err)
        return OsmoError(.io, "cannot write \(path): \(reason)", cause: Errno(err))
    }

    /// Writes `bytes` to `path` through a temporary file, fsync and rename: readers see the old
    /// content or the new, never a prefix.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws {
        try bytes.withUnsafeBytes { buffer in
            try replaceAtomically(path, mode: mode) { fd, tmp in
                try writeAll(fd, buffer, what: "cannot write \(tmp)")
            }
        }
    }

    /// Writes `bytes` to a temporary file and renames it over `path`, without flushing: a reader
    /// (or the next run after a process crash) sees the old content or the new, never a prefix.
    /// For small records where a power loss may lose the update but must not corrupt it.
    public static func replaceContents(_ path: String, with bytes: [UInt8], mode: mode_t = 0o644) throws {
        let temporary = "\(path).osmo-tmp-\(getpid())"
        let fd = try SystemCall.retrying("cannot create \(temporary)") { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do {
            try bytes.withUnsafeBytes { try writeAll(fd, $0, what: "cannot write \(temporary)") }
            close(fd)
            try SystemCall.retrying("cannot rename \(temporary) to \(path)") { rename(temporary, path) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
    }

    /// Copies `source` to `destination` atomically (temp file in the same directory, flush,
    /// `rename`, then `fsync` of the directory), so a crash leaves the old file or none, never a
    /// truncated one: a one-file `AtomicBatch`.
    public static func installAtomically(from source: String, to destination: String, mode: mode_t) throws {
        let batch = AtomicBatch()
        try batch.copy(from: source, to: destination, mode: mode)
        try batch.commit()
    }

    /// The crash window of `installAtomically`, exposed so tests can simulate a crash mid-copy:
    /// `fill` writes into the temporary file; only when it returns is the file renamed into place.
    public static func replaceAtomically(
        _ destination: String, mode: mode_t, fill: (Int32, String) throws -> Void
    ) throws {
        let batch = AtomicBatch()
        try batch.stage(destination, mode: mode, fill: fill)
        try batch.commit()
    }

    public static func copyContents(from input: Int32, to output: Int32, source: String, destination: String) throws {
        while true {
            let n = osmo_copy_file_range(input, output, 1 << 30)
            if n > 0 { continue }
            if n == 0 { return }
            let err = errno
            if err == EINTR { continue }
            if err == EXDEV || err == ENOSYS || err == EINVAL || err == EOPNOTSUPP { break }
            throw OsmoError(.io, "cannot copy \(source) to \(destination): \(SystemCall.describe(errno: err))", cause: Errno(err))
        }
        // Fallback: plain read/write from the current offsets.
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try SystemCall.retrying("cannot read \(source)") {
                buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            }
            if n == 0 { return }
            try buffer.withUnsafeBytes {
                try writeAll(output, UnsafeRawBufferPointer(rebasing: $0[0..<n]), what: "cannot write \(destination)")
            }
        }
    }

    /// Best effort: makes a rename durable.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// Points `link` at `target` (a hard link when possible, so single-file bind mounts of the link
    /// work; otherwise a copy), replacing whatever was there atomically.
    public static func linkAtomically(_ target: String, as link: String, mode: mode_t) throws {
        let tmp = AtomicBatch.temporaryName(for: link)
        unlink(tmp)
        if Glibc.link(target, tmp) == 0 {
            do {
                try SystemCall.retrying("cannot rename \(tmp) to \(link)") { rename(tmp, link) }
            } catch {
                unlink(tmp)
                throw error
            }
            return
        }
        try installAtomically(from: target, to: link, mode: mode)
    }

    /// Creates (or replaces) a symbolic link atomically.
    public static func symlinkAtomically(_ target: String, as link: String) throws {
        let tmp = AtomicBatch.temporaryName(for: link)
        unlink(tmp)
        try SystemCall.retrying("cannot create symlink \(link)") { symlink(target, tmp) }
        do {
            try SystemCall.retrying("cannot rename \(tmp) to \(link)") { rename(tmp, link) }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// The target of a symbolic link, or nil.
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Size and mode of a path (following symlinks), or nil.
    public static func status(_ path: String) -> stat? {
        var st = stat()
        return stat(path, &st) == 0 ? st : nil
    }
}
