import COsmoSys
import Glibc
import OsmoCore

extension FileSystem {
    /// One file found by `walk`: its path relative to the root, size and mode.
    public struct WalkEntry: Sendable {
        public let relativePath: String
        public let size: Int64
        public let isSymlink: Bool
    }

    /// Every regular file (and symlink) under `root`, depth first, sorted per directory.
    /// Symlinked directories are not followed.
    public static func walk(_ root: String, skipping: (String) -> Bool = { _ in false }) throws -> [WalkEntry] {
        var out: [WalkEntry] = []
        func visit(_ relative: String) throws {
            let dir = relative.isEmpty ? root : Path.join(root, relative)
            for name in try contents(of: dir).sorted() {
                let childRelative = relative.isEmpty ? name : "\(relative)/\(name)"
                if skipping(childRelative) { continue }
                var st = stat()
                guard lstat(Path.join(root, childRelative), &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: try visit(childRelative)
                case S_IFREG: out.append(WalkEntry(relativePath: childRelative, size: Int64(st.st_size), isSymlink: false))
                case S_IFLNK: out.append(WalkEntry(relativePath: childRelative, size: Int64(st.st_size), isSymlink: true))
                default: continue
                }
            }
        }
        var st = stat()
        guard stat(root, &st) == 0 else {
            throw OsmoError(.notFound, "\(root): \(SystemCall.describe(errno: errno))", cause: Errno(errno))
        }
        if st.st_mode & S_IFMT == S_IFDIR {
            try visit("")
        } else {
            out.append(WalkEntry(relativePath: Path.basename(root), size: Int64(st.st_size), isSymlink: false))
        }
        return out
    }

    /// `rm -rf`: removes a file or a whole tree; a missing path is fine.
    public static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in try contents(of: path) { try removeTree(Path.join(path, name)) }
            try SystemCall.retrying("cannot remove \(path)") { rmdir(path) }
        } else {
            try SystemCall.retrying("cannot remove \(path)") { unlink(path) }
        }
    }

    /// `rm -rf` of `name` in the open directory `parent`, never following a symlink.
    public static func removeTree(in parent: Int32, name: String, display: String) throws {
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw OsmoError(.io, "cannot remove \(display): \(SystemCall.describe(errno: errno))", cause: Errno(errno)) }
            defer { close(fd) }
            for child in try contents(ofDescriptor: fd, path: display) {
                try removeTree(in: fd, name: child, display: Path.join(display, child))
            }
            try SystemCall.retrying("cannot remove \(display)") { unlinkat(parent, name, AT_REMOVEDIR) }
        } else {
            try SystemCall.retrying("cannot remove \(display)") { unlinkat(parent, name, 0) }
        }
    }

    /// `renameat2` between two open directories; `noReplace` fails with `EEXIST` instead of
    /// replacing. False with `errno` set on failure.
    public static func renameAt(_ sourceDirectory: Int32, _ name: String, to destinationDirectory: Int32, _ newName: String, noReplace: Bool) -> Bool {
        osmo_renameat(sourceDirectory, name, destinationDirectory, newName, noReplace ? 1 : 0) == 0
    }

    /// A small user xattr on an open file (remembers which version of an object a file is).
    public static func setAttribute(descriptor fd: Int32, name: String, value: String) {
        _ = value.withCString { fsetxattr(fd, "user.\(name)", $0, strlen($0), 0) }
    }

    public static func attribute(descriptor fd: Int32, name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 512)
        let n = fgetxattr(fd, "user.\(name)", &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads a whole (small) regular file `name` in an open directory, never through a symlink.
    public static func readFile(in directory: Int32, name: String) -> [UInt8]? {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return n == 0 ? out : nil }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    /// `replaceContents` for a name in an open directory: a temporary file renamed over it.
    public static func replaceContents(in directory: Int32, name: String, with bytes: [UInt8], display: String) throws {
        let temporary = "\(name).osmo-tmp-\(getpid())"
        let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw writeFailure(display, errno: errno) }
        do {
            try bytes.withUnsafeBytes { try writeAll(fd, $0, what: "cannot write \(display)") }
            close(fd)
            guard renameAt(directory, temporary, to: directory, name, noReplace: false) else { throw writeFailure(display, errno: errno) }
        } catch {
            close(fd)
            unlinkat(directory, temporary, 0)
            throw error
        }
    }

}
