import Glibc
import OsmoArchive
import OsmoCore
import OsmoSystem

/// `file://` and plain-path transfers: a directory walk and kernel-side copies
/// (`copy_file_range`), staged and renamed in one `AtomicBatch` so a crash never leaves a
/// half-copied file under its final name. Archives are extracted straight from the source file.
struct LocalCopy {
    let progress: TransferProgress

    func download(from source: String, into root: ConfinedDirectory, filter: PathFilter, options: DownloadOptions, record: inout TransferRecord) throws {
        guard FileSystem.exists(source) else { throw OsmoError(.notFound, "\(source): no such file or directory") }
        let isDirectory = FileSystem.isDirectory(source)
        let entries = try filter.select(try FileSystem.walk(source)) { $0.relativePath }
        progress.expect(bytes: entries.reduce(0) { $0 + $1.size }, files: entries.count)
        var refused: [String] = []
        for entry in entries {
            let from = isDirectory ? Path.join(source, entry.relativePath) : source
            guard let relative = PathFilter.safeRelative(entry.relativePath) else { continue }
            if options.extract, !entry.isSymlink, let format = try? Self.sniff(from), format != .none {
                let parent = Path.parent(relative)
                let report = try StagedExtraction.run(root: root, directory: parent == "." ? "" : parent, name: Path.basename(relative)) { staging in
                    try ArchiveExtractor(root: staging, name: from).extract(file: from)
                }
                record.files += report.files
                record.bytes += entry.size
                progress.add(bytes: entry.size, files: report.files)
                continue
            }
            if entry.isSymlink, let target = FileSystem.readLink(from) {
                if let reason = try Self.copySymlink(target, to: relative, in: root) {
                    refused.append("\(entry.relativePath): \(reason)")
                    continue
                }
            } else {
                try Self.copyFile(from, to: relative, in: root)
            }
            record.files += 1
            record.bytes += entry.size
            progress.add(bytes: entry.size, files: 1)
        }
        if !refused.isEmpty {
            throw OsmoError(.io, "\(source): refused \(refused.count) unsafe entr\(refused.count == 1 ? "y" : "ies"): \(refused.prefix(20).joined(separator: "; "))")
        }
    }

    /// Copies a file under a temporary name in its confined parent and renames it into place:
    /// the destination holds the old content or the whole new one.
    static func copyFile(_ from: String, to relative: String, in root: ConfinedDirectory) throws {
        let input = try SystemCall.retrying("cannot open \(from)") { open(from, O_RDONLY | O_CLOEXEC) }
        defer { close(input) }
        try copyFile(input, from: from, to: relative, in: root)
    }

    static func copyFile(_ input: Int32, from: String, to relative: String, in root: ConfinedDirectory) throws {
        var st = stat()
        let mode = fstat(input, &st) == 0 ? st.st_mode & 0o777 : 0o644
        let (parent, name) = try root.parent(of: relative, create: true, symlinks: .followInside)
        defer { close(parent) }
        let temporary = ".\(name).osmo-tmp-\(getpid())"
        let display = Path.join(root.path, relative)
        let fd = try ConfinedDirectory.createFile(in: parent, name: temporary, mode: mode, truncate: true, display: display)
        do {
            defer { close(fd) }
            try FileSystem.copyContents(from: input, to: fd, source: from, destination: display)
            fchmod(fd, mode)
            guard FileSystem.renameAt(parent, temporary, to: parent, name, noReplace: false) else { throw FileSystem.writeFailure(display, errno: errno) }
        } catch {
            unlinkat(parent, temporary, 0)
            throw error
        }
    }

    /// Recreates a source symlink if it stays inside the destination by real resolution; the
    /// reason it was refused otherwise.
    static func copySymlink(_ target: String, to relative: String, in root: ConfinedDirectory) throws -> String? {
        let (parent, name) = try root.parent(of: relative, create: true, symlinks: .followInside)
        defer { close(parent) }
        unlinkat(parent, name, 0)
        guard symlinkat(target, parent, name) == 0 else { throw root.failure(relative, errno: errno, doing: "create symlink") }
        if target.hasPrefix("/") || root.resolve(relative) == .outside {
            unlinkat(parent, name, 0)
            return "symlink points outside the destination (\(target))"
        }
        return nil
    }

    /// Copies files into a local destination directory (an "upload" to file://).
    func upload(_ files: [Uploader.File], to root: ConfinedDirectory, record: inout TransferRecord) throws {
        for file in files {
            let input = try file.open()
            defer { close(input) }
            try Self.copyFile(input, from: file.path, to: file.key, in: root)
            record.files += 1
            record.bytes += file.size
            progress.add(bytes: file.size, files: 1)
        }
    }

    static func sniff(_ path: String) throws -> ArchiveFormat {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .none }
        defer { close(fd) }
        var prefix = [UInt8](repeating: 0, count: ArchiveFormat.sniffLength)
        let n = prefix.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return ArchiveFormat.detect(prefix: Array(prefix.prefix(max(n, 0))), name: Path.basename(path))
    }
}
