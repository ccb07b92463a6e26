import Glibc
import OsmoArchive
import OsmoCore
import OsmoSystem

/// An archive's entries reach their destination only whole: they are extracted into a hidden
/// staging directory beside it (`.osmo-extract-<name>`), and only a complete, safe extraction is
/// merged into place. A staging directory left by a crash marks the archive for a redo; every
/// path removes it.
///
/// The merge never deletes what it does not replace, like tar: a directory that exists on both
/// sides is merged entry by entry (its existing mode kept), a file or link replaces exactly the
/// path of the same name, and a non-directory in the way of a directory is replaced by it. A
/// directory with files in it is never replaced by a file: that fails the archive. Several
/// archives (shards) merging into one tree at once are safe: a directory is moved with
/// `RENAME_NOREPLACE` and merged instead when another got there first. Every step works on a
/// directory descriptor and a single name, so nothing is moved through a symlink.
enum StagedExtraction {
    static func stagingName(for name: String) -> String { ".osmo-extract-\(name)" }

    /// Extracts `name` into `directory` (relative to `root`) with `extract`, which receives the
    /// staging directory.
    static func run(root: ConfinedDirectory, directory: String, name: String,
                    _ extract: (_ staging: ConfinedDirectory) throws -> ArchiveExtractor.Report) throws -> ArchiveExtractor.Report {
        let target = ConfinedDirectory(descriptor: try root.openDirectory(directory, create: true, symlinks: .followInside),
                                       path: Path.join(root.path, directory))
        let staging = stagingName(for: name)
        try FileSystem.removeTree(in: target.fd, name: staging, display: Path.join(target.path, staging))
        do {
            guard mkdirat(target.fd, staging, 0o755) == 0 else { throw target.failure(staging, errno: errno, doing: "create directory") }
            let stagingFD = openat(target.fd, staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard stagingFD >= 0 else { throw target.failure(staging, errno: errno, doing: "open directory") }
            let stagingDirectory = ConfinedDirectory(descriptor: stagingFD, path: Path.join(target.path, staging))
            let report = try extract(stagingDirectory)
            try merge(from: stagingDirectory.fd, into: target.fd, display: target.path)
            try FileSystem.removeTree(in: target.fd, name: staging, display: stagingDirectory.path)
            return report
        } catch {
            try? FileSystem.removeTree(in: target.fd, name: staging, display: staging)
            throw error
        }
    }

    /// Moves every entry of `source` into `destination` (both open directories).
    static func merge(from source: Int32, into destination: Int32, display: String) throws {
        for name in try FileSystem.contents(ofDescriptor: source, path: display) {
            var st = stat()
            guard fstatat(source, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let shown = Path.join(display, name)
            if st.st_mode & S_IFMT == S_IFDIR {
                try mergeDirectory(name, from: source, into: destination, display: shown)
            } else {
                try replace(name, from: source, into: destination, display: shown)
            }
        }
    }

    private static func mergeDirectory(_ name: String, from source: Int32, into destination: Int32, display: String) throws {
        for _ in 0..<3 {
            if FileSystem.renameAt(source, name, to: destination, name, noReplace: true) { return }
            let err = errno
            guard err == EEXIST || err == ENOTEMPTY else { throw moveFailure(display, err) }
            var existing = stat()
            guard fstatat(destination, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if existing.st_mode & S_IFMT == S_IFDIR {
                let from = openat(source, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                let to = openat(destination, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                defer { if from >= 0 { close(from) }; if to >= 0 { close(to) } }
                guard from >= 0, to >= 0 else { throw moveFailure(display, errno) }
                // The staging copy is emptied and removed, whatever mode the archive gave it
                // (a read-only directory would keep a non-root user from moving its entries).
                fchmod(from, 0o700)
                try merge(from: from, into: to, display: display)
                return
            }
            // A file or a symlink where the archive has a directory: the directory takes its
            // place (the link is removed, never followed).
            if unlinkat(destination, name, 0) != 0 && errno != ENOENT { throw moveFailure(display, errno) }
        }
        throw moveFailure(display, EEXIST)
    }

    private static func replace(_ name: String, from source: Int32, into destination: Int32, display: String) throws {
        if FileSystem.renameAt(source, name, to: destination, name, noReplace: false) { return }
        let err = errno
        guard err == EISDIR || err == ENOTEMPTY || err == EEXIST else { throw moveFailure(display, err) }
        // A directory is in the way: only an empty one gives way.
        guard unlinkat(destination, name, AT_REMOVEDIR) == 0 else {
            throw OsmoError(.io, "cannot extract \(display): a directory with files in it is in the way of a file of the archive")
        }
        if !FileSystem.renameAt(source, name, to: destination, name, noReplace: false) { throw moveFailure(display, errno) }
    }

    private static func moveFailure(_ display: String, _ err: Int32) -> OsmoError {
        OsmoError(.io, "cannot move the extracted \(display) into place: \(SystemCall.describe(errno: err))", cause: Errno(err))
    }
}
