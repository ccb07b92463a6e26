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
    }

    public enum Failure {
        public static let rejectedEntries = OsmoError.Code("archive-rejected")
        public static let damaged = OsmoError.Code("archive-damaged")
    }

    /// Where entries go (must exist) and a name for messages.
    public let destination: String
    public let name: String

    public init(destination: String, name: String) {
        // Resolved once: libarchive's symlink check then never trips over the destination's own path.
        self.destination = FileSystem.realPath(destination) ?? destination
        self.name = name
    }

    /// Extracts what `pipe` delivers; consumes it to the end (or cancels it on failure).
    public func extract(from pipe: BytePipe) throws -> Report {
        let reader = PipeReader(pipe)
        let handle = archive_read_new()!
        defer { archive_read_free(handle) }
        osmo_archive_read_support_osmo(handle)
        let context = Unmanaged.passRetained(reader).toOpaque()
        let opened = archive_read_open(handle, context, nil, { _, context, buffer in
            let reader = Unmanaged<PipeReader>.fromOpaque(context!).takeUnretainedValue()
            return reader.next(buffer!)
        }, { _, context in
            Unmanaged<PipeReader>.fromOpaque(context!).release()
            return ARCHIVE_OK
        })
        do {
            guard opened == ARCHIVE_OK else { throw damaged(handle, reader) }
            let report = try copyEntries(from: handle, reader: reader)
            reader.drain()
            return report
        } catch let error as OsmoError {
            pipe.cancel(error)
            throw error
        }
    }

    /// Extracts a local archive file.
    public func extract(file path: String) throws -> Report {
        let handle = archive_read_new()!
        defer { archive_read_free(handle) }
        osmo_archive_read_support_osmo(handle)
        guard archive_read_open_filename(handle, path, 1 << 20) == ARCHIVE_OK else { throw damaged(handle, nil) }
        return try copyEntries(from: handle, reader: nil)
    }

    private func copyEntries(from handle: OpaquePointer, reader: PipeReader?) throws -> Report {
        let writer = archive_write_disk_new()!
        defer { archive_write_free(writer) }
        // Entries are rewritten to absolute paths under the (symlink-free) destination, so
        // libarchive's NOABSOLUTEPATHS cannot be used; EntryGuard refuses absolute names instead.
        // No UNLINK: extraction goes into a fresh staging directory (one syscall less per entry).
        let flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS
            | ARCHIVE_EXTRACT_SECURE_NODOTDOT
        archive_write_disk_set_options(writer, flags)

        var report = Report()
        var rejected: [String] = []
        var entry: OpaquePointer?
        while true {
            let rc = archive_read_next_header(handle, &entry)
            if rc == ARCHIVE_EOF { break }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else { throw damaged(handle, reader) }
            let raw = Self.string(archive_entry_pathname_utf8(entry)) ?? Self.string(archive_entry_pathname(entry)) ?? ""
            switch prepare(entry, name: raw) {
            case .failure(let refusal):
                rejected.append("\(raw): \(refusal)")
                archive_read_data_skip(handle)
                continue
            case .success(nil):
                archive_read_data_skip(handle)
                continue
            case .success(.some):
                break
            }
            report.entries += 1
            if archive_write_header(writer, entry) < ARCHIVE_WARN {
                rejected.append("\(raw): \(Self.string(archive_error_string(writer)) ?? "cannot create")")
                archive_read_data_skip(handle)
                continue
            }
            if archive_entry_filetype(entry) == S_IFREG { report.files += 1 }
            try copyData(from: handle, to: writer, entry: raw, reader: reader, report: &report)
            if archive_write_finish_entry(writer) < ARCHIVE_WARN {
                rejected.append("\(raw): \(Self.string(archive_error_string(writer)) ?? "cannot finish")")
            }
        }
        if archive_write_close(writer) < ARCHIVE_WARN {
            throw OsmoError(.io, "\(name): cannot finish extraction: \(Self.string(archive_error_string(writer)) ?? "unknown error")")
        }
        if !rejected.isEmpty {
            let shown = rejected.prefix(20).joined(separator: "; ")
            let more = rejected.count > 20 ? " and \(rejected.count - 20) more" : ""
            throw OsmoError(Failure.rejectedEntries, "\(name): refused \(rejected.count) unsafe entr\(rejected.count == 1 ? "y" : "ies"): \(shown)\(more)")
        }
        return report
    }

    /// Checks the entry and rewrites its names under `destination`. `.success(nil)` = skip
    /// silently (the archive's own root `./`).
    private func prepare(_ entry: OpaquePointer, name: String) -> Result<String?, EntryGuard.Refusal> {
        let path: String
        switch EntryGuard.relativePath(name) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let relative): path = relative
        }
        if path.isEmpty { return .success(nil) }
        let type = archive_entry_filetype(entry)
        if type == S_IFCHR || type == S_IFBLK { return .failure(.device) }
        if let target = Self.string(archive_entry_hardlink_utf8(entry)) ?? Self.string(archive_entry_hardlink(entry)) {
            guard case .success(let relative) = EntryGuard.relativePath(target), !relative.isEmpty else {
                return .failure(.hardlinkEscapes(target))
            }
            archive_entry_set_hardlink_utf8(entry, Path.join(destination, relative))
        }
        if type == S_IFLNK {
            let target = Self.string(archive_entry_symlink_utf8(entry)) ?? Self.string(archive_entry_symlink(entry)) ?? ""
            guard EntryGuard.symlinkStaysInside(path: path, target: target) else { return .failure(.symlinkEscapes(target)) }
        }
        archive_entry_set_perm(entry, archive_entry_perm(entry) & ~mode_t(0o6000))
        archive_entry_set_pathname_utf8(entry, Path.join(destination, path))
        return .success(path)
    }

    private func copyData(from handle: OpaquePointer, to writer: OpaquePointer, entry: String, reader: PipeReader?, report: inout Report) throws {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let rc = archive_read_data_block(handle, &buffer, &size, &offset)
            if rc == ARCHIVE_EOF { return }
            guard rc >= ARCHIVE_WARN else { throw damaged(handle, reader) }
            if size == 0 { continue }
            if archive_write_data_block(writer, buffer, size, offset) < ARCHIVE_WARN {
                let reason = Self.string(archive_error_string(writer)) ?? "write failed"
                throw OsmoError(.io, "\(name): cannot write \(entry): \(reason)")
            }
            report.bytes += Int64(size)
        }
    }

    /// A read error: the producer's own failure (a download error) wins over libarchive's view.
    private func damaged(_ handle: OpaquePointer, _ reader: PipeReader?) -> OsmoError {
        if let failure = reader?.failure { return failure }
        let reason = Self.string(archive_error_string(handle)) ?? "unreadable"
        return OsmoError(Failure.damaged, "\(name) is not a readable archive: \(reason)")
    }

    static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}

/// Feeds libarchive from a `BytePipe`, keeping the last chunk alive while libarchive reads it.
final class PipeReader: @unchecked Sendable {
    let pipe: BytePipe
    private var current: BytePipe.Chunk?
    private(set) var failure: OsmoError?

    init(_ pipe: BytePipe) { self.pipe = pipe }

    func next(_ buffer: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        do {
            current = try pipe.pop()
            guard let current else { return 0 }
            buffer.pointee = UnsafeRawPointer(current.bytes.baseAddress)
            return current.bytes.count
        } catch let error as OsmoError {
            failure = error
            return -1
        } catch {
            return -1
        }
    }

    /// Reads to the end so trailing padding does not leave the producer paused forever.
    func drain() {
        while (try? pipe.pop()) ?? nil != nil {}
    }
}
