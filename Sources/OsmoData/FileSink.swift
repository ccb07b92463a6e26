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
///
/// All three names live in one parent directory opened beneath the download's root by the
/// kernel (`ConfinedDirectory`), and are created, read and renamed relative to it with
/// `O_NOFOLLOW`: a symlink planted in the destination can neither redirect the file nor its
/// state record outside.
final class FileSink: ResponseSink, @unchecked Sendable {
    struct State: Codable, Equatable {
        var url: String
        var size: Int64?
        var etag: String?
        var lastModified: String?
    }

    let url: String
    /// The final file's path, for messages.
    let finalPath: String
    private let parent: Int32
    private let name: String
    private var partName: String { name + ".osmo-part" }
    private var stateName: String { name + ".osmo-part.state" }
    private(set) var offset: Int64 = 0
    private var fd: Int32 = -1
    private var state: State?
    private var verifier: ETagVerifier?
    private let expectedSize: Int64?
    private let progress: TransferProgress?
    /// Set when resuming: bytes already on disk from an earlier run (for the report).
    private(set) var resumedFrom: Int64 = 0

    /// True when an earlier run left a state record for `relative` (a download to resume).
    static func hasState(root: ConfinedDirectory, _ relative: String) -> Bool {
        root.status(relative + ".osmo-part.state") != nil
    }

    init(url: String, root: ConfinedDirectory, relative: String, expectedSize: Int64?, expectedETag: String?,
         resume: Bool, progress: TransferProgress?) throws {
        self.url = url
        self.finalPath = Path.join(root.path, relative)
        self.expectedSize = expectedSize
        self.progress = progress
        (parent, name) = try root.parent(of: relative, create: true, symlinks: .followInside)
        var st = stat()
        if resume, let saved = FileSink.readState(parent, name + ".osmo-part.state"), saved.url == url,
           fstatat(parent, name + ".osmo-part", &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFREG,
           expectedETag == nil || saved.etag == nil || saved.etag == expectedETag {
            state = saved
            offset = Int64(st.st_size)
            resumedFrom = offset
        }
        do {
            fd = try ConfinedDirectory.createFile(in: parent, name: name + ".osmo-part", mode: 0o644, truncate: offset == 0,
                                                  readable: true, display: finalPath + ".osmo-part")
        } catch {
            close(parent)
            throw error
        }
        verifier = ETagVerifier(etag: expectedETag ?? state?.etag, size: expectedSize ?? state?.size)
        if offset > 0 { try rehashPrefix() }
        progress?.add(bytes: offset)
    }

    deinit {
        if fd >= 0 { close(fd) }
        close(parent)
    }

    static func readState(_ directory: Int32, _ name: String) -> State? {
        guard let bytes = FileSystem.readFile(in: directory, name: name) else { return nil }
        return try? JSONDecoder().decode(State.self, from: Data(bytes))
    }

    /// Feeds the bytes already on disk to the verifier so a resumed file is still checked whole.
    private func rehashPrefix() throws {
        guard let verifier else { return }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var done: Int64 = 0
        while done < offset {
            let want = Int(min(Int64(buffer.count), offset - done))
            let n = try SystemCall.retrying("cannot read \(finalPath).osmo-part") {
                buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(done)) }
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { verifier.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            done += Int64(n)
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
                try FileSystem.replaceContents(in: parent, name: stateName, with: Array(try JSONEncoder().encode(fresh)),
                                               display: finalPath + ".osmo-part.state")
            } catch {
                return .fail(OsmoError(.io, "cannot record download state for \(finalPath)", cause: error))
            }
        }
        return .accept
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> SinkWrite {
        do { try FileSystem.writeAll(fd, bytes, at: offset, path: finalPath + ".osmo-part") } catch let error as OsmoError {
            return .fail(error)
        } catch {
            return .fail(OsmoError(.io, "cannot write \(finalPath).osmo-part: \(error)"))
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
                unlinkat(parent, stateName, 0)
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
        if let etag = state?.etag { FileSystem.setAttribute(descriptor: fd, name: "osmo.etag", value: etag) }
        close(fd)
        fd = -1
        guard FileSystem.renameAt(parent, partName, to: parent, name, noReplace: false) else {
            let err = errno
            throw OsmoError(.io, "cannot rename \(finalPath).osmo-part to \(finalPath): \(SystemCall.describe(errno: err))", cause: Errno(err))
        }
        unlinkat(parent, stateName, 0)
        progress?.add(files: 1)
    }

    /// The completed file, opened for reading (never through a symlink).
    func openCompleted() throws -> Int32 {
        let fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw OsmoError(.io, "cannot open \(finalPath): \(SystemCall.describe(errno: errno))", cause: Errno(errno)) }
        return fd
    }

    /// Deletes the part file and its state (a spool whose archive has been extracted).
    func discard() {
        unlinkat(parent, name, 0)
        unlinkat(parent, partName, 0)
        unlinkat(parent, stateName, 0)
    }

    func abandon(_ error: OsmoError) {
        if fd >= 0 { close(fd) }
        fd = -1
    }
}
