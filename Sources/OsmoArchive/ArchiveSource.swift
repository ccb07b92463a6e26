import COsmoArchive
import Glibc
import OsmoCore
import OsmoSystem

/// An archive's raw bytes as they arrive, from a download (`BytePipe`) or an open file, one
/// chunk at a time; a chunk stays valid until the next call. Counts what it delivered (for the
/// expansion-ratio limit) and keeps the producer's own failure (a download error), which wins
/// over any decoding error it causes.
final class ArchiveSource {
    private enum Kind {
        case pipe(BytePipe)
        case descriptor(Int32)
    }

    private let kind: Kind
    private var current: BytePipe.Chunk?
    private var buffer: UnsafeMutableRawBufferPointer?
    private var peeked: UnsafeRawBufferPointer?
    private(set) var bytesRead: Int64 = 0
    private(set) var failure: OsmoError?

    init(_ pipe: BytePipe) { kind = .pipe(pipe) }
    init(descriptor fd: Int32) { kind = .descriptor(fd) }

    deinit { buffer?.deallocate() }

    /// The descriptor, for libarchive's seekable readers (zip's central directory).
    var descriptor: Int32? {
        if case .descriptor(let fd) = kind { return fd }
        return nil
    }

    /// The first chunk, delivered again by the next `next()`.
    func peek() throws -> UnsafeRawBufferPointer? {
        if peeked == nil { peeked = try read() }
        return peeked
    }

    func next() throws -> UnsafeRawBufferPointer? {
        if let chunk = peeked {
            peeked = nil
            bytesRead += Int64(chunk.count)
            return chunk
        }
        let chunk = try read()
        bytesRead += Int64(chunk?.count ?? 0)
        return chunk
    }

    private func read() throws -> UnsafeRawBufferPointer? {
        switch kind {
        case .pipe(let pipe):
            do {
                current = try pipe.pop()
            } catch let error as OsmoError {
                failure = error
                throw error
            }
            return current.map { UnsafeRawBufferPointer($0.bytes) }
        case .descriptor(let fd):
            let buffer = self.buffer ?? .allocate(byteCount: 1 << 20, alignment: 16)
            self.buffer = buffer
            while true {
                let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
                if n > 0 { return UnsafeRawBufferPointer(rebasing: buffer[0..<n]) }
                if n == 0 { return nil }
                if errno == EINTR { continue }
                let err = errno
                throw OsmoError(.io, "cannot read the archive: \(SystemCall.describe(errno: err))", cause: Errno(err))
            }
        }
    }

    /// Reads a pipe to its end so trailing padding does not leave the producer paused forever.
    func drain() {
        guard case .pipe(let pipe) = kind else { return }
        while (try? pipe.pop()) ?? nil != nil {}
    }

}

/// libarchive's read callback over an `ArchiveSource` (`context`, unretained).
func readFromSource(_ archive: OpaquePointer?, _ context: UnsafeMutableRawPointer?,
                    _ buffer: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int {
    deliver(Unmanaged<ArchiveSource>.fromOpaque(context!).takeUnretainedValue(), buffer!)
}

/// libarchive's read callback over a `Decompressor` (`context`, unretained).
func readFromDecompressor(_ archive: OpaquePointer?, _ context: UnsafeMutableRawPointer?,
                          _ buffer: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int {
    deliver(Unmanaged<Decompressor>.fromOpaque(context!).takeUnretainedValue(), buffer!)
}

/// Hands one chunk of `producer` to libarchive: its size, 0 at the end, -1 on failure.
func deliver(_ producer: some ChunkProducer, _ buffer: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
    do {
        guard let chunk = try producer.next() else { return 0 }
        buffer.pointee = chunk.baseAddress
        return chunk.count
    } catch {
        return -1
    }
}

/// Something libarchive can pull chunks from.
protocol ChunkProducer: AnyObject {
    func next() throws -> UnsafeRawBufferPointer?
}

extension ArchiveSource: ChunkProducer {}

/// The decompression stage of a compressed tar, run apart from the tar reader so that the
/// compressed stream is always read to its very end and its checksums are verified: the tar
/// reader stops at the end-of-archive blocks, before an xz or zstd stream's check, and
/// libarchive's gzip reader never verifies the CRC-32 at all. gzip goes through zlib (which
/// does); bzip2, xz, zstd and lz4 through libarchive's raw format.
final class Decompressor: ChunkProducer {
    enum Kind {
        case gzip
        case filtered

        /// The compression of a stream from its magic bytes, or nil for none.
        static func detect(_ prefix: UnsafeRawBufferPointer?) -> Kind? {
            guard let prefix, prefix.count >= 6 else { return nil }
            let bytes = Array(prefix.prefix(6))
            if bytes.starts(with: [0x1F, 0x8B]) { return .gzip }
            if bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) || bytes.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])
                || bytes.starts(with: Array("BZh".utf8)) || bytes.starts(with: [0x04, 0x22, 0x4D, 0x18]) {
                return .filtered
            }
            return nil
        }
    }

    private let source: ArchiveSource
    private let kind: Kind
    private var gzip: OpaquePointer?
    private var handle: OpaquePointer?
    private var output: UnsafeMutableRawBufferPointer
    private var input: UnsafeRawBufferPointer?
    private var inputOffset = 0
    private var sourceEnded = false
    /// Why decoding failed (corrupt data), once it has.
    private(set) var failure: OsmoError?

    init(_ kind: Kind, source: ArchiveSource, name: String) throws {
        self.kind = kind
        self.source = source
        output = .allocate(byteCount: 1 << 20, alignment: 16)
        switch kind {
        case .gzip:
            gzip = osmo_gunzip_new()
            guard gzip != nil else { throw OsmoError(.io, "\(name): cannot start the gzip decoder") }
        case .filtered:
            let handle = archive_read_new()!
            self.handle = handle
            osmo_archive_read_support_decompress(handle)
            let context = Unmanaged.passUnretained(source).toOpaque()
            var header: OpaquePointer?
            guard archive_read_open(handle, context, nil, readFromSource, nil) == ARCHIVE_OK,
                  archive_read_next_header(handle, &header) == ARCHIVE_OK else {
                throw source.failure ?? OsmoError(ArchiveExtractor.Failure.damaged, "\(name) is not a readable archive: \(Self.message(handle))")
            }
        }
    }

    deinit {
        output.deallocate()
        if let gzip { osmo_gunzip_free(gzip) }
        if let handle { archive_read_free(handle) }
    }

    func next() throws -> UnsafeRawBufferPointer? {
        do {
            switch kind {
            case .gzip: return try nextGzip()
            case .filtered: return try nextFiltered()
            }
        } catch let error as OsmoError {
            failure = failure ?? error
            throw error
        }
    }

    private func nextGzip() throws -> UnsafeRawBufferPointer? {
        while true {
            if input == nil || inputOffset == input!.count {
                guard !sourceEnded, let chunk = try source.next() else {
                    sourceEnded = true
                    guard osmo_gunzip_complete(gzip) != 0 else {
                        throw OsmoError(ArchiveExtractor.Failure.damaged, "the gzip stream is truncated (it ends inside a member)")
                    }
                    return nil
                }
                input = chunk
                inputOffset = 0
            }
            let rest = UnsafeRawBufferPointer(rebasing: input![inputOffset...])
            var consumed = 0
            let produced = osmo_gunzip_run(gzip, rest.baseAddress?.assumingMemoryBound(to: UInt8.self), rest.count, &consumed,
                                           output.baseAddress?.assumingMemoryBound(to: UInt8.self), output.count)
            guard produced >= 0 else {
                throw OsmoError(ArchiveExtractor.Failure.damaged, String(cString: osmo_gunzip_error(gzip)))
            }
            inputOffset += consumed
            if produced > 0 { return UnsafeRawBufferPointer(rebasing: output[0..<Int(produced)]) }
            if consumed == 0 && inputOffset < input!.count {
                throw OsmoError(ArchiveExtractor.Failure.damaged, "the gzip decoder made no progress")
            }
        }
    }

    private func nextFiltered() throws -> UnsafeRawBufferPointer? {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let rc = archive_read_data_block(handle, &buffer, &size, &offset)
            if rc == ARCHIVE_EOF { return nil }
            guard rc == ARCHIVE_OK else {
                throw source.failure ?? OsmoError(ArchiveExtractor.Failure.damaged, "the compressed stream is corrupt: \(Self.message(handle!))")
            }
            if size > 0 { return UnsafeRawBufferPointer(start: buffer, count: size) }
        }
    }

    /// Reads what the tar reader left (end-of-archive padding, the compressor's trailer) to
    /// the end, so that the stream's checksum is verified.
    func drain() throws {
        while try next() != nil {}
    }

    static func message(_ handle: OpaquePointer) -> String {
        archive_error_string(handle).map { String(cString: $0) } ?? "unreadable"
    }
}
