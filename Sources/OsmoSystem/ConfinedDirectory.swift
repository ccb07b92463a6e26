import COsmoSys
import Glibc
import OsmoCore

/// A directory that every path below it is resolved in by the kernel, so nothing written
/// "into" it can land outside it, whatever symlinks a dataset, an earlier run or a user
/// planted there.
///
/// Every open goes through `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`
/// relative to the root's descriptor (Linux ≥ 5.6). Where the kernel or a seccomp filter lacks
/// `openat2`, a component-by-component `openat(O_NOFOLLOW)` walk takes its place: stricter, it
/// follows no symlink at all. Everything that creates, links or renames then works on a
/// confined parent descriptor and a single name (`mkdirat`, `symlinkat`, `linkat`,
/// `renameat`), so no path string is ever resolved outside the kernel's check.
///
/// Relative paths handed in are already normalised (no `..`, not absolute); `..` is refused
/// again here as a second line.
///
/// Concurrency model: immutable after `init`; the root descriptor is shared by any number of
/// threads (the `*at` calls are thread-safe), closed in `deinit`.
public final class ConfinedDirectory: Sendable {
    /// What resolution may do with symlinks inside the root.
    public enum Symlinks: Sendable {
        /// Follow symlinks that stay inside (plain downloads into a user's directory).
        case followInside
        /// Follow none (a fresh extraction tree: entries never go through a symlink).
        case refuse
    }

    public let path: String
    public let fd: Int32

    /// Opens `path` (following symlinks: the caller named it) as the root, creating it (and its
    /// parents, 0755) when `create` is set. An existing directory's mode is never changed.
    public init(_ path: String, create: Bool = false) throws {
        self.path = path
        var fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 && errno == ENOENT && create {
            try FileSystem.makeDirectory(path, mode: 0o755)
            fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard fd >= 0 else {
            let err = errno
            throw OsmoError(.io, "cannot open directory \(path): \(SystemCall.describe(errno: err))", cause: Errno(err))
        }
        self.fd = fd
    }

    /// A second view of an already open directory (takes ownership of `fd`).
    public init(descriptor fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// False when `OSMO_NO_OPENAT2` is set (tests of the fallback) or the kernel refuses it.
    public static let kernelResolution: Bool = {
        if getenv("OSMO_NO_OPENAT2") != nil { return false }
        let probe = osmo_openat2(AT_FDCWD, ".", Int32(OSMO_O_PATH) | O_DIRECTORY, 0, UInt64(OSMO_RESOLVE_BENEATH))
        if probe >= 0 { close(probe); return true }
        return probe != -ENOSYS && probe != -EPERM
    }()

    static func resolveFlags(_ symlinks: Symlinks) -> UInt64 {
        var flags = UInt64(OSMO_RESOLVE_BENEATH | OSMO_RESOLVE_NO_MAGICLINKS | OSMO_RESOLVE_NO_XDEV)
        if symlinks == .refuse { flags |= UInt64(OSMO_RESOLVE_NO_SYMLINKS) }
        return flags
    }

    /// `openat2` beneath the root; returns the fd or `-errno`. `EXDEV` = the path resolves
    /// outside, `ELOOP` = through a symlink that the policy (or `O_NOFOLLOW`) refuses.
    public func rawOpen(_ relative: String, flags: Int32, mode: mode_t = 0, symlinks: Symlinks) -> Int32 {
        if relative.split(separator: "/").contains("..") { return -EXDEV }
        let name = relative.isEmpty ? "." : relative
        if Self.kernelResolution {
            return osmo_openat2(fd, name, flags, UInt32(mode), Self.resolveFlags(symlinks))
        }
        return walkOpen(name, flags: flags, mode: mode)
    }

    /// The fallback: one `openat(O_NOFOLLOW)` per component, directories only until the last.
    private func walkOpen(_ relative: String, flags: Int32, mode: mode_t) -> Int32 {
        let parts = relative.split(separator: "/").filter { $0 != "." }
        var current = fd
        defer { if current != fd { close(current) } }
        for part in parts.dropLast() {
            let next = openat(current, String(part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 { return errno == ENOTDIR || errno == ELOOP ? -ELOOP : -errno }
            if current != fd { close(current) }
            current = next
        }
        let last = parts.last.map(String.init) ?? "."
        let opened = openat(current, last, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        return opened >= 0 ? opened : -errno
    }

    /// Opens (or creates, 0755, with its parents) the directory at `relative`. Only directories
    /// this call creates get a mode; existing ones stay as they are.
    public func openDirectory(_ relative: String, create: Bool, symlinks: Symlinks) throws -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY
        var opened = rawOpen(relative, flags: flags, symlinks: symlinks)
        if opened == -ENOENT && create && !relative.isEmpty {
            let parent = try openDirectory(Path.parent(relative) == "." ? "" : Path.parent(relative), create: true, symlinks: symlinks)
            defer { close(parent) }
            let name = Path.basename(relative)
            if mkdirat(parent, name, 0o755) != 0 && errno != EEXIST {
                throw failure(relative, errno: errno, doing: "create directory")
            }
            opened = rawOpen(name, flags: flags | O_NOFOLLOW, symlinks: .refuse, below: parent)
        }
        guard opened >= 0 else { throw failure(relative, errno: -opened, doing: "open directory") }
        return opened
    }

    /// `rawOpen` relative to another confined descriptor (a parent this type opened).
    private func rawOpen(_ name: String, flags: Int32, symlinks: Symlinks, below parent: Int32) -> Int32 {
        if Self.kernelResolution {
            return osmo_openat2(parent, name, flags, 0, Self.resolveFlags(symlinks))
        }
        let opened = openat(parent, name, flags | O_NOFOLLOW | O_CLOEXEC)
        return opened >= 0 ? opened : -errno
    }

    /// The confined parent directory of `relative` (created when asked) and the last name.
    public func parent(of relative: String, create: Bool, symlinks: Symlinks) throws -> (fd: Int32, name: String) {
        let parent = Path.parent(relative)
        let fd = try openDirectory(parent == "." ? "" : parent, create: create, symlinks: symlinks)
        return (fd, Path.basename(relative))
    }

    /// Creates (or truncates) a regular file; a symlink in its place is replaced, never followed.
    public func createFile(_ relative: String, mode: mode_t = 0o600, truncate: Bool = true, symlinks: Symlinks) throws -> Int32 {
        // The common case in one call; a missing parent or a symlink in the file's place takes
        // the long way (create the parents, replace the link).
        let direct = rawOpen(relative, flags: O_WRONLY | O_CREAT | O_NOFOLLOW | (truncate ? O_TRUNC : 0), mode: mode, symlinks: symlinks)
        if direct >= 0 { return direct }
        guard direct == -ENOENT || direct == -ELOOP else { throw failure(relative, errno: -direct, doing: "create") }
        let (parent, name) = try self.parent(of: relative, create: true, symlinks: symlinks)
        defer { close(parent) }
        return try Self.createFile(in: parent, name: name, mode: mode, truncate: truncate, display: Path.join(path, relative))
    }

    /// `openat(O_CREAT | O_NOFOLLOW)` in a confined directory, replacing a symlink of that name.
    public static func createFile(in parent: Int32, name: String, mode: mode_t, truncate: Bool, readable: Bool = false,
                                  display: String) throws -> Int32 {
        let flags = (readable ? O_RDWR : O_WRONLY) | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (truncate ? O_TRUNC : 0)
        for attempt in 0..<2 {
            let fd = openat(parent, name, flags, mode)
            if fd >= 0 { return fd }
            let err = errno
            if err == ELOOP && attempt == 0 && unlinkat(parent, name, 0) == 0 { continue }
            throw FileSystem.writeFailure(display, errno: err)
        }
        throw FileSystem.writeFailure(display, errno: ELOOP)
    }

    /// `lstat` of `relative`, its parents resolved beneath the root; nil if missing or outside.
    public func status(_ relative: String, symlinks: Symlinks = .followInside) -> stat? {
        guard let (parent, name) = try? self.parent(of: relative, create: false, symlinks: symlinks) else { return nil }
        defer { close(parent) }
        var st = stat()
        return fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// Where `relative` (a symlink, typically) really resolves: inside, outside, or nowhere yet.
    public enum Resolution: Equatable, Sendable { case inside, outside, dangling }

    /// Follows `relative` to the end, symlinks included, under the kernel's check.
    public func resolve(_ relative: String) -> Resolution {
        let opened = rawOpen(relative, flags: Int32(OSMO_O_PATH), symlinks: .followInside)
        if opened >= 0 { close(opened); return .inside }
        return opened == -ENOENT ? .dangling : .outside
    }

    /// An error that says what was refused and why, in the user's terms.
    public func failure(_ relative: String, errno err: Int32, doing: String) -> OsmoError {
        let display = Path.join(path, relative)
        switch err {
        case EXDEV:
            return OsmoError(.io, "refusing to \(doing) \(display): it resolves outside \(path) (through a symlink or a mount)", cause: Errno(err))
        case ELOOP:
            return OsmoError(.io, "refusing to \(doing) \(display): the path goes through a symlink", cause: Errno(err))
        default:
            return OsmoError(.io, "cannot \(doing) \(display): \(SystemCall.describe(errno: err))", cause: Errno(err))
        }
    }
}
