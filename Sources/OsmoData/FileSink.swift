import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// Downloads one object into `name.osmo-part`, resumable, and renames it to `name` only when
/// it is complete and verified.
///
/// Beside the part file lives `name.osmo-part.state`: which object version (URL, size, ETag,
/// Last-Modified) the bytes belong to. A later run resumes from the part file's size with a
/// `Range` request if the server still reports the same version, and starts over if not.
/// (After a process kill the page cache holds every written byte, so the file size is exact.)
final class FileSink: ResponseSink, @unchecked Sendable {
    struct State: Codable, Equatable {
        var url: String
        var size: Int64?
        var etag: String?
        var lastModified: String?
    }

    let url: String
    let finalPath: String
    let partPath: String
    let statePath: String
    private(set) var offset: Int64 = 0
    private var fd: Int32 = -1
    private var state: State?
    private var verifier: ETagVerifier?
    private let expectedSize: Int64?
    private let progress: TransferProgress?
    /// Set when resuming: bytes already on disk from an earlier run (for the report).
    private(set) var resumedFrom: Int64 = 0

    init(url: String, finalPath: String, expectedSize: Int64?, expectedETag: String?, resume: Bool, progress: TransferProgress?) throws {
        self.url = url
        self.finalPath = finalPath
        self.partPath = finalPath + ".osmo-part"
        self.statePath = finalPath + ".osmo-part.state"
        self.expectedSize = expectedSize
        self.progress = progress
        // A tree of small files shares few directories: check before creating (mkdir + chmod).
        let parent = Path.parent(finalPath)
        if !FileSystem.isDirectory(parent) { try FileSystem.makeDirectory(parent, mode: 0o755) }
        if resume, let saved = FileSink.readState(statePath), saved.url == url, let st = FileSystem.status(partPath),
           expectedETag == nil || saved.etag == nil || saved.etag == expectedETag {
            state = saved
            offset = Int64(st.st_size)
            resumedFrom = offset
        }
        fd = try SystemCall.retrying("cannot create \(partPath)", .io) {
            open(partPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        }
        if offset == 0 { ftruncate(fd, 0) }
        verifier = ETagVerifier(etag: expectedETag ?? state?.etag, size: expectedSize ?? state?.size)
        if offset > 0 { try rehashPrefix() }
        progress?.add(bytes: offset)
    }

    deinit { if fd >= 0 { close(fd) } }

    static func readState(_ path: String) -> State? {
        guard let bytes = try? FileSystem.readFile(path) else { return nil }
        return try? JSONDecoder().decode(State.self, from: Data(bytes))
    }

    /// Feeds the bytes already on disk to the verifier so a resumed file is still checked whole.
    private func rehashPrefix() throws {
        guard let verifier else { return }
        let input = try SystemCall.retrying("cannot read \(partPath)") { open(partPath, O_RDONLY | O_CLOEXEC) }
        defer { close(input) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var left = offset
        while left > 0 {
            let n = try SystemCall.retrying("cannot read \(partPath)") {
                buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, min($0.count, Int(left))) }
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { verifier.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            left -= Int64(n)
        }
    }

    private func startOver() {
        progress?.add(bytes: -offset)
        offset = 0
        ftruncate(fd, 0)
        verifier = ETagVerifier(etag: verifier?.expected, size: expectedSize)
    }

    func begin(_ head: HTTPResponse, requestedOffset: Int64) -> SinkDecision {
        let current = State(url: url, size: head.objectSize ?? expectedSize,
                            etag: head.etag, lastModified: head[header: "last-modified"])
        if requestedOffset != 0 {
            let sameVersion = state.map { saved in
                if let etag = saved.etag, let now = current.etag { return etag == now }
                if let modified = saved.lastModified, let now = current.lastModified { return modified == now }
                return false
            } ?? false
            if requestedOffset < 0 || head.status != 206 || !sameVersion {
                startOver()
                if head.status == 206 { return .restart }
            }
        }
        if offset == 0 {
            let fresh = current
            state = fresh
            if verifier == nil || (current.etag != nil && current.etag != verifier?.expected) {
                verifier = ETagVerifier(etag: current.etag, size: fresh.size)
            }
            do {
                try FileSystem.replaceContents(statePath, with: Array(try JSONEncoder().encode(fresh)))
            } catch {
                return .fail(OsmoError(.io, "cannot record download state for \(finalPath)", cause: error))
            }
        }
        return .accept
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> SinkWrite {
        do { try FileSystem.writeAll(fd, bytes, at: offset, path: partPath) } catch let error as OsmoError {
            return .fail(error)
        } catch {
            return .fail(OsmoError(.io, "cannot write \(partPath): \(error)"))
        }
        verifier?.update(bytes)
        offset += Int64(bytes.count)
        progress?.add(bytes: Int64(bytes.count))
        return .accepted
    }

    func finish(_ head: HTTPResponse) throws {
        let expected = state?.size ?? expectedSize
        if let expected, expected != offset {
            throw OsmoError(.io, "\(url): got \(offset) of \(expected) bytes")
        }
        if let verifier {
            let actual = verifier.finish()
            self.verifier = nil
            guard actual == verifier.expected else {
                startOver()
                FileSystem.remove(statePath)
                throw OsmoError(.io, "\(url): checksum mismatch (ETag \(verifier.expected), content \(actual)); the partial file was discarded")
            }
        }
        try complete()
    }

    /// Renames into place and forgets the state record. No fsync: what a process crash can lose
    /// is only what the kernel has not been handed yet, and the part file's size says exactly
    /// that; a power loss takes the node, and with it the pod's volumes, anyway. Syncing every
    /// file made a tree of small files 2–3× slower.
    func complete() throws {
        close(fd)
        fd = -1
        try SystemCall.retrying("cannot rename \(partPath)") { rename(partPath, finalPath) }
        FileSystem.remove(statePath)
        if let etag = state?.etag { FileSystem.setAttribute(finalPath, name: "osmo.etag", value: etag) }
        progress?.add(files: 1)
    }

    func abandon(_ error: OsmoError) {
        if fd >= 0 { close(fd) }
        fd = -1
    }
}
