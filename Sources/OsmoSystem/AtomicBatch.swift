import COsmoSys
import Glibc
import OsmoCore

/// Installs several files so that each destination holds its old content or its complete new
/// content, never a prefix, with one flush for the whole batch instead of one `fsync` per file.
///
/// Files are staged as hidden temporaries beside their destinations; `commit` makes every staged
/// byte durable (`syncfs` once per file system), only then renames them into place, and finally
/// syncs each parent directory. Uncommitted temporaries are removed when the batch is released.
public final class AtomicBatch {
    /// `flush`: the temporary holds written bytes (a hard link holds none of its own).
    private var staged: [(temporary: String, destination: String, flush: Bool)] = []
    private var committed = false

    public init() {}

    deinit {
        if !committed { for entry in staged { unlink(entry.temporary) } }
    }

    public static func temporaryName(for destination: String) -> String {
        "\(Path.parent(destination))/.\(Path.basename(destination)).osmo-tmp-\(getpid())"
    }

    /// Copies `source` into a temporary beside `destination` (copy_file_range, read/write fallback).
    public func copy(from source: String, to destination: String, mode: mode_t) throws {
        let input = try SystemCall.retrying("cannot open \(source)") { open(source, O_RDONLY | O_CLOEXEC) }
        defer { close(input) }
        try stage(destination, mode: mode) { fd, tmp in
            try FileSystem.copyContents(from: input, to: fd, source: source, destination: tmp)
        }
    }

    /// A hard link to `source` where it is a regular file on the destination's file system and
    /// already has `mode` (local pods: nothing is written or flushed, the bundle's blocks are
    /// shared), else `copy`. The link shares the inode: only for files nobody rewrites in place.
    public func linkOrCopy(from source: String, to destination: String, mode: mode_t) throws {
        if let st = FileSystem.status(source), st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o7777 == mode,
           let parent = FileSystem.status(Path.parent(destination)), parent.st_dev == st.st_dev {
            let tmp = Self.temporaryName(for: destination)
            unlink(tmp)
            if linkat(AT_FDCWD, source, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0 {
                staged.append((tmp, destination, false))
                return
            }
        }
        try copy(from: source, to: destination, mode: mode)
    }

    /// Stages `fill`'s output as the new content of `destination`.
    public func stage(_ destination: String, mode: mode_t, fill: (Int32, String) throws -> Void) throws {
        let tmp = Self.temporaryName(for: destination)
        let fd = try SystemCall.retrying("cannot create \(tmp)") {
            open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        }
        staged.append((tmp, destination, true))
        defer { close(fd) }
        try fill(fd, tmp)
        try SystemCall.retrying("cannot chmod \(tmp)") { fchmod(fd, mode) }
    }

    /// Flushes, then renames every staged file into place.
    public func commit() throws {
        var flushed = Set<UInt64>()
        for entry in staged where entry.flush {
            guard let st = FileSystem.status(entry.temporary), flushed.insert(UInt64(st.st_dev)).inserted else { continue }
            let fd = try SystemCall.retrying("cannot open \(entry.temporary)") { open(entry.temporary, O_RDONLY | O_CLOEXEC) }
            defer { close(fd) }
            try SystemCall.retrying("cannot flush the file system of \(entry.destination)") { osmo_syncfs(fd) }
        }
        var directories: [String] = []
        for entry in staged {
            try SystemCall.retrying("cannot rename \(entry.temporary) to \(entry.destination)") {
                rename(entry.temporary, entry.destination)
            }
            let parent = Path.parent(entry.destination)
            if !directories.contains(parent) { directories.append(parent) }
        }
        committed = true
        directories.forEach(FileSystem.syncDirectory)
    }
}
