import COsmoArchive
import Glibc
import OsmoCore
import OsmoSystem

/// Extracts a tar (plain or compressed) or zip archive into a directory, refusing every entry
/// that would land or point outside it.
///
/// Streams from a `BytePipe` (the download's bytes, as they arrive) or reads a local file. Modes
/// (minus setuid/setgid), mtimes, symlinks, hardlinks, sparse files and UTF-8 names are kept;
/// directory modes and times are applied last by libarchive. Owners are not restored.
public struct ArchiveExtractor {
    public struct Report: Sendable {
        public var entries = 0
        public var files = 0
        public var bytes: Int64 = 0
        /// What the file entries say they hold (a sparse file's full length included).
        public var declaredBytes: Int64 = 0
    }

    public enum Failure {
        public static let rejectedEntries = OsmoError.Code("archive-rejected")
        public static let damaged = OsmoError.Code("archive-damaged")
    }

    /// Where entries go (nothing is created outside it) and a name for messages.
    public let root: ConfinedDirectory
    public let name: String

    public init(root: ConfinedDirectory, name: String, limits: Limits = .fromEnvironment) {
        self.root = root
        self.name = name
        self.limits = limits
    }

    /// Extracts into the existing directory at `destination`.
    public init(destination: String, name: String, limits: Limits = .fromEnvironment) throws {
        self.init(root: try ConfinedDirectory(destination), name: name, limits: limits)
    }

    /// Optional bounds on what one archive may expand to (0 = none), from
    /// `OSMO_EXTRACT_MAX_BYTES` and `OSMO_EXTRACT_MAX_RATIO` (extracted bytes per archive byte).
    public struct Limits: Sendable {
        public var maxBytes: Int64 = 0
        public var maxRatio: Int64 = 0

        public init(maxBytes: Int64 = 0, maxRatio: Int64 = 0) {
            self.maxBytes = maxBytes
            self.maxRatio = maxRatio
        }

        public static let fromEnvironment: Limits = {
            func number(_ name: String) -> Int64 {
                guard let raw = getenv(name) else { return 0 }
                return Int64(String(cString: raw)) ?? 0
            }
            return Limits(maxBytes: number("OSMO_EXTRACT_MAX_BYTES"), maxRatio: number("OSMO_EXTRACT_MAX_RATIO"))
        }()
    }

    public let limits: Limits

    /// Extracts what `pipe` delivers; consumes it to the end (or cancels it on failure).
    public func extract(from pipe: BytePipe) throws -> Report {
        let source = ArchiveSource(pipe)
        do {
            let report = try extract(source)
            source.drain()
            return report
        } catch let error as OsmoError {
            pipe.cancel(error)
            throw error
        }
    }

    /// Extracts a local archive file.
    public func extract(file path: String) throws -> Report {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let err = errno
            throw OsmoError(.io, "cannot open \(path): \(SystemCall.describe(errno: err))", cause: Errno(err))
        }
        defer { close(fd) }
        return try extract(descriptor: fd)
    }

    /// Extracts an archive from an open file (read from its start; `fd` stays open).
    public func extract(descriptor fd: Int32) throws -> Report {
        lseek(fd, 0, SEEK_SET)
        return try extract(ArchiveSource(descriptor: fd))
    }

    /// A compressed tar is decompressed by its own stage (read to the end, checksums verified)
    /// and only the tar reader sees the result; anything else goes to libarchive directly.
    private func extract(_ source: ArchiveSource) throws -> Report {
        let handle = archive_read_new()!
        defer { archive_read_free(handle) }
        guard let compression = Decompressor.Kind.detect(try source.peek()) else {
            osmo_archive_read_support_osmo(handle)
            let opened: Int32
            if let fd = source.descriptor {
                // A file: libarchive may seek (zip's central directory).
                lseek(fd, 0, SEEK_SET)
                opened = archive_read_open_fd(handle, fd, 1 << 20)
            } else {
                opened = archive_read_open(handle, Unmanaged.passUnretained(source).toOpaque(), nil,
                                           readFromSource, nil)
            }
            let failure = { source.failure }
            guard opened == ARCHIVE_OK else { throw damaged(handle, failure) }
            return try copyEntries(from: handle, bytesRead: { max(archive_filter_bytes(handle, -1), source.bytesRead) }, failure: failure)
        }
        let decompressor = try Decompressor(compression, source: source, name: name)
        let failure = { source.failure ?? decompressor.failure }
        osmo_archive_read_support_tar(handle)
        guard archive_read_open(handle, Unmanaged.passUnretained(decompressor).toOpaque(), nil,
                                readFromDecompressor, nil) == ARCHIVE_OK else {
            throw damaged(handle, failure)
        }
        let report = try copyEntries(from: handle, bytesRead: { source.bytesRead }, failure: failure)
        do {
            try decompressor.drain()
        } catch let error as OsmoError {
            throw error.code == Failure.damaged ? OsmoError(Failure.damaged, "\(name) is damaged: \(error.message)") : error
        }
        return report
    }

    /// Decodes on this thread, writes through a `DiskWriter` pool.
    private func copyEntries(from handle: OpaquePointer, bytesRead: () -> Int64, failure: () -> OsmoError?) throws -> Report {
        let writer = DiskWriter(root: root, threads: ArchiveExtractor.writerThreads)
        var report = Report()
        var rejected: [String] = []
        var entry: OpaquePointer?
        do {
            while true {
                let rc = archive_read_next_header(handle, &entry)
                if rc == ARCHIVE_EOF { break }
                guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else { throw damaged(handle, failure) }
                let raw = Self.string(archive_entry_pathname_utf8(entry)) ?? Self.string(archive_entry_pathname(entry)) ?? ""
                switch prepare(entry, name: raw, writer: writer) {
                case .failure(let refusal):
                    rejected.append("\(raw): \(refusal)")
                    try skip(handle, failure: failure)
                case .success(nil):
                    try skip(handle, failure: failure)
                case .success(let plan?):
                    report.entries += 1
                    try write(plan, entry: entry, from: handle, bytesRead: bytesRead, failure: failure, to: writer, report: &report)
                }
            }
        } catch {
            writer.abandon()
            throw error
        }
        rejected += try writer.finish()
        if !rejected.isEmpty {
            let shown = rejected.prefix(20).joined(separator: "; ")
            let more = rejected.count > 20 ? " and \(rejected.count - 20) more" : ""
            throw OsmoError(Failure.rejectedEntries, "\(name): refused \(rejected.count) unsafe entr\(rejected.count == 1 ? "y" : "ies"): \(shown)\(more)")
        }
        return report
    }

    /// Two writers beside the decoding thread: file creation is kernel time that overlaps well.
    static let writerThreads = 2
    /// Files up to this size are handed to the pool whole; larger ones stream on the decoder.
    static let wholeFileLimit: Int64 = 4 << 20

    enum Plan {
        case directory(String)
        case file(String)
        case symlink(String, target: String)
        case hardlink(String, target: String)
    }

    /// Checks the entry's names (before anything touches the disk). `.success(nil)` = skip
    /// silently (the archive's own root `./`, FIFOs and sockets).
    private func prepare(_ entry: OpaquePointer, name: String, writer: DiskWriter) -> Result<Plan?, EntryGuard.Refusal> {
        let path: String
        switch EntryGuard.relativePath(name) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let relative): path = relative
        }
        if path.isEmpty { return .success(nil) }
        if writer.crossesSymlink(path) { return .failure(.throughSymlink) }
        let type = archive_entry_filetype(entry)
        if type == S_IFCHR || type == S_IFBLK { return .failure(.device) }
        if let target = Self.string(archive_entry_hardlink_utf8(entry)) ?? Self.string(archive_entry_hardlink(entry)) {
            guard case .success(let relative) = EntryGuard.relativePath(target), !relative.isEmpty else {
                return .failure(.hardlinkEscapes(target))
            }
            return .success(.hardlink(path, target: relative))
        }
        switch type {
        case S_IFDIR: return .success(.directory(path))
        case S_IFREG: return .success(.file(path))
        case S_IFLNK:
            let target = Self.string(archive_entry_symlink_utf8(entry)) ?? Self.string(archive_entry_symlink(entry)) ?? ""
            guard EntryGuard.symlinkStaysInside(path: path, target: target) else { return .failure(.symlinkEscapes(target)) }
            return .success(.symlink(path, target: target))
        default:
            return .success(nil)
        }
    }

    private func write(_ plan: Plan, entry: OpaquePointer, from handle: OpaquePointer, bytesRead: () -> Int64,
                       failure: () -> OsmoError?, to writer: DiskWriter, report: inout Report) throws {
        let mode = archive_entry_perm(entry) & ~mode_t(0o6000)
        let mtime: timespec? = archive_entry_mtime_is_set(entry) != 0
            ? timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry)) : nil
        switch plan {
        case .directory(let path):
            try writer.directory(path, mode: mode, mtime: mtime)
        case .symlink(let path, let target):
            writer.symlink(path, target: target)
        case .hardlink(let path, let target):
            writer.hardlink(path, to: target)
        case .file(let path):
            report.files += 1
            let declared = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : -1
            // A sparse entry writes few bytes but is its declared size to anyone who reads it.
            report.declaredBytes += max(declared, 0)
            try checkLimits(extracted: max(report.bytes, report.declaredBytes), read: bytesRead)
            let limit = ArchiveExtractor.wholeFileLimit
            var data = [UInt8]()
            // Small files go to the pool whole, unless the entry turns out bigger than it said
            // (a zip's sizes can lie): then it spills to a file written here, so memory stays
            // bounded whatever an entry declares.
            var stream: DiskWriter.StreamFile?
            if declared < 0 || declared > limit || archive_entry_sparse_count(entry) != 0 {
                stream = try writer.openStream(path)
            } else {
                data.reserveCapacity(Int(declared))
            }
            try readBlocks(handle, bytesRead: bytesRead, failure: failure, report: &report) { bytes, offset in
                if let stream {
                    try stream.write(bytes, at: offset)
                    return
                }
                if offset + Int64(bytes.count) > limit {
                    let spilled = try writer.openStream(path)
                    try data.withUnsafeBytes { try spilled.write($0, at: 0) }
                    data = []
                    try spilled.write(bytes, at: offset)
                    stream = spilled
                    return
                }
                if Int(offset) > data.count { data += [UInt8](repeating: 0, count: Int(offset) - data.count) }
                data += bytes
            }
            if let stream {
                try stream.finish(length: max(declared, 0), mode: mode, mtime: mtime)
            } else {
                try writer.file(DiskWriter.FileJob(path: path, mode: mode, mtime: mtime, data: data))
            }
        }
    }

    /// Skips the current entry's data, still reading (and so checking) it.
    private func skip(_ handle: OpaquePointer, failure: () -> OsmoError?) throws {
        guard archive_read_data_skip(handle) == ARCHIVE_OK else { throw damaged(handle, failure) }
    }

    /// Every data block of the current entry, with its offset (holes of sparse files skipped).
    /// A warning from a data read means a checksum or length did not match (zip CRC, a
    /// compressor's check): corruption, so it fails the archive like any read error.
    private func readBlocks(_ handle: OpaquePointer, bytesRead: () -> Int64, failure: () -> OsmoError?, report: inout Report,
                            _ body: (UnsafeRawBufferPointer, Int64) throws -> Void) throws {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let rc = archive_read_data_block(handle, &buffer, &size, &offset)
            if rc == ARCHIVE_EOF { return }
            guard rc == ARCHIVE_OK else { throw damaged(handle, failure) }
            guard size > 0 else { continue }
            report.bytes += Int64(size)
            try checkLimits(extracted: report.bytes, read: bytesRead)
            try body(UnsafeRawBufferPointer(start: buffer, count: size), offset)
        }
    }

    public enum LimitFailure {
        public static let tooLarge = OsmoError.Code("archive-too-large")
    }

    private func checkLimits(extracted: Int64, read bytesRead: () -> Int64) throws {
        if limits.maxBytes > 0 && extracted > limits.maxBytes {
            throw OsmoError(LimitFailure.tooLarge, "\(name) expands to more than \(limits.maxBytes) bytes (OSMO_EXTRACT_MAX_BYTES); raise the limit or download it with extraction off")
        }
        // Judged once past 1 MiB, so a tiny archive of a few small files is never refused.
        if limits.maxRatio > 0 && extracted > 1 << 20 {
            let read = max(bytesRead(), 1)
            if extracted / read > limits.maxRatio {
                throw OsmoError(LimitFailure.tooLarge, "\(name) expands more than \(limits.maxRatio)× (\(extracted) bytes from \(read); OSMO_EXTRACT_MAX_RATIO); raise the limit or download it with extraction off")
            }
        }
    }

    /// A read error: the producer's own failure (a download error, corrupt compressed data)
    /// wins over libarchive's view.
    private func damaged(_ handle: OpaquePointer, _ failure: () -> OsmoError?) -> OsmoError {
        if let failure = failure() {
            return failure.code == Failure.damaged ? OsmoError(Failure.damaged, "\(name) is damaged: \(failure.message)") : failure
        }
        let reason = Self.string(archive_error_string(handle)) ?? "unreadable"
        return OsmoError(Failure.damaged, "\(name) is not a readable archive: \(reason)")
    }

    static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
