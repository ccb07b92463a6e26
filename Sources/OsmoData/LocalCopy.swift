import Glibc
import OsmoArchive
import OsmoCore
import OsmoSystem

/// `file://` and plain-path transfers: a directory walk and kernel-side copies
/// (`copy_file_range`), staged and renamed in one `AtomicBatch` so a crash never leaves a
/// half-copied file under its final name. Archives are extracted straight from the source file.
struct LocalCopy {
    let progress: TransferProgress

    func download(from source: String, into directory: String, filter: PathFilter, options: DownloadOptions, record: inout TransferRecord) throws {
        guard FileSystem.exists(source) else { throw OsmoError(.notFound, "\(source): no such file or directory") }
        let isDirectory = FileSystem.isDirectory(source)
        let entries = try FileSystem.walk(source).filter { filter.matches($0.relativePath) }
        progress.expect(bytes: entries.reduce(0) { $0 + $1.size }, files: entries.count)
        let batch = AtomicBatch()
        for entry in entries {
            let from = isDirectory ? Path.join(source, entry.relativePath) : source
            let to = Path.join(directory, entry.relativePath)
            if options.extract, !entry.isSymlink, let format = try? Self.sniff(from), format != .none {
                let report = try StagedExtraction.run(into: Path.parent(to), name: Path.basename(to)) { staging in
                    try ArchiveExtractor(destination: staging, name: from).extract(file: from)
                }
                record.files += report.files
                record.bytes += entry.size
                progress.add(bytes: entry.size, files: report.files)
                continue
            }
            try FileSystem.makeDirectory(Path.parent(to), mode: 0o755)
            if entry.isSymlink, let target = FileSystem.readLink(from) {
                try FileSystem.symlinkAtomically(target, as: to)
            } else {
                let mode = FileSystem.status(from).map { $0.st_mode & 0o777 } ?? 0o644
                try batch.copy(from: from, to: to, mode: mode)
            }
            record.files += 1
            record.bytes += entry.size
            progress.add(bytes: entry.size, files: 1)
        }
        try batch.commit()
    }

    /// Copies files into a local destination directory (an "upload" to file://).
    func upload(_ files: [(path: String, relative: String, size: Int64)], to directory: String, record: inout TransferRecord) throws {
        let batch = AtomicBatch()
        for file in files {
            let to = Path.join(directory, file.relative)
            try FileSystem.makeDirectory(Path.parent(to), mode: 0o755)
            let mode = FileSystem.status(file.path).map { $0.st_mode & 0o777 } ?? 0o644
            try batch.copy(from: file.path, to: to, mode: mode)
            record.files += 1
            record.bytes += file.size
            progress.add(bytes: file.size, files: 1)
        }
        try batch.commit()
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
