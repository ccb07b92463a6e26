import Glibc
import OsmoArchive
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// Receives one object and decides from its first bytes what it is: a tar stream is extracted
/// while it downloads (through a bounded `BytePipe` into an extractor thread), a zip is spooled
/// to disk and then extracted, anything else is saved as a file (`FileSink`).
///
/// Extraction goes into a hidden staging directory beside the destination; only a complete,
/// safe archive has its entries moved into place. A staging directory left by a crash marks
/// the archive for a redo on the next run.
final class ArchiveSink: ResponseSink, @unchecked Sendable {
    private enum Mode {
        case sniffing([UInt8])
        case file(FileSink)
        case spool(FileSink)
        case stream(BytePipe)
    }

    private let job: DownloadJob
    private let engine: TransferEngine
    private var mode: Mode
    private var pushed: Int64 = 0
    private var skip: Int64 = 0
    private var streamETag: String?
    /// The current attempt's answer, replayed to the sink chosen after sniffing.
    private var head = HTTPResponse(status: 200, headers: [:])
    private var requestedOffset: Int64 = 0

    var spoolName: String { ".osmo-spool-\(job.name)" }

    init(job: DownloadJob, engine: TransferEngine) throws {
        self.job = job
        self.engine = engine
        mode = .sniffing([])
        // An earlier run's leftovers: a crashed extraction is redone; a half-downloaded plain
        // file is resumed as a plain file, a half-spooled zip as a spool.
        let staging = Path.join(job.directory, StagedExtraction.stagingName(for: job.name))
        if job.root.status(staging) != nil {
            let (parent, name) = try job.root.parent(of: staging, create: false, symlinks: .followInside)
            defer { close(parent) }
            try FileSystem.removeTree(in: parent, name: name, display: Path.join(job.root.path, staging))
        }
        if FileSink.hasState(root: job.root, job.relative) {
            mode = .file(try job.fileSink(named: job.name))
        } else if job.resume && FileSink.hasState(root: job.root, Path.join(job.directory, spoolName)) {
            mode = .spool(try job.fileSink(named: spoolName))
        }
    }

    var offset: Int64 {
        switch mode {
        case .sniffing: 0
        case .file(let sink), .spool(let sink): sink.offset
        case .stream: pushed
        }
    }

    func begin(_ head: HTTPResponse, requestedOffset: Int64) -> SinkDecision {
        self.head = head
        self.requestedOffset = requestedOffset
        switch mode {
        case .sniffing:
            // An attempt that broke off within the first bytes: this one sends them again.
            mode = .sniffing([])
            return .accept
        case .file(let sink), .spool(let sink):
            return sink.begin(head, requestedOffset: requestedOffset)
        case .stream:
            // Half an archive is already extracted: continue only with the very same object.
            if let etag = streamETag, let now = head.etag, etag != now {
                return .fail(OsmoError(.io, "\(job.url) changed while it was being extracted"))
            }
            if head.status == 200 && requestedOffset > 0 { skip = requestedOffset }
            return .accept
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> SinkWrite {
        var bytes = bytes
        if skip > 0 {
            let dropped = min(Int(skip), bytes.count)
            skip -= Int64(dropped)
            bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst(dropped))
            if bytes.isEmpty { return .accepted }
        }
        switch mode {
        case .sniffing(var prefix):
            prefix.append(contentsOf: bytes)
            guard prefix.count >= ArchiveFormat.sniffLength else {
                mode = .sniffing(prefix)
                return .accepted
            }
            return decide(prefix)
        case .file(let sink), .spool(let sink):
            return sink.write(bytes)
        case .stream(let pipe):
            switch pipe.push(bytes) {
            case .accepted:
                pushed += Int64(bytes.count)
                job.progress?.add(bytes: Int64(bytes.count))
                return .accepted
            case .full: return .pause
            case .failed(let error): return .fail(error)
            }
        }
    }

    /// Chooses the mode from the first bytes, then hands them to it.
    private func decide(_ prefix: [UInt8]) -> SinkWrite {
        let format = job.extract ? ArchiveFormat.detect(prefix: prefix, name: job.name) : .none
        do {
            switch format {
            case .none, .zip:
                let sink = try job.fileSink(named: format == .zip ? spoolName : job.name)
                if case .fail(let error) = sink.begin(head, requestedOffset: requestedOffset) { return .fail(error) }
                mode = format == .zip ? .spool(sink) : .file(sink)
            case .tar:
                streamETag = head.etag
                let pipe = BytePipe(capacity: 4 << 20)
                pipe.onDrain = { [engine, unowned self] in engine.resume(self) }
                mode = .stream(pipe)
                startExtractor(pipe)
            }
        } catch let error as OsmoError {
            return .fail(error)
        } catch {
            return .fail(OsmoError(.io, "\(job.url): \(error)"))
        }
        return prefix.withUnsafeBytes { write($0) }
    }

    func finish(_ head: HTTPResponse) throws {
        if case .sniffing(let prefix) = mode {
            if case .fail(let error) = decide(prefix) { throw error }
        }
        switch mode {
        case .sniffing:
            break
        case .file(let sink):
            try sink.finish(head)
            job.succeed(bytes: sink.offset, files: 1)
        case .spool(let sink):
            try sink.finish(head)
            let bytes = sink.offset
            ThreadStarter.detach { [self] in
                // The spool goes before the job is reported done: a caller that lists the
                // destination as soon as the download returns must not find it.
                extractInPlace(bytes: bytes, cleanup: { sink.discard() }) { staging in
                    let fd = try sink.openCompleted()
                    defer { close(fd) }
                    return try ArchiveExtractor(root: staging, name: job.url).extract(descriptor: fd)
                }
            }
        case .stream(let pipe):
            pipe.finish()
        }
    }

    func abandon(_ error: OsmoError) {
        switch mode {
        case .file(let sink), .spool(let sink): sink.abandon(error)
        case .stream(let pipe): pipe.finish(error)
        case .sniffing: break
        }
    }

    private func startExtractor(_ pipe: BytePipe) {
        ThreadStarter.detach { [self] in
            extractInPlace(bytes: nil) { try ArchiveExtractor(root: $0, name: job.url).extract(from: pipe) }
        }
    }

    /// Runs an extraction through `StagedExtraction` and reports the job's outcome either way.
    private func extractInPlace(bytes: Int64?, cleanup: () -> Void = {}, _ extract: (_ staging: ConfinedDirectory) throws -> ArchiveExtractor.Report) {
        do {
            let report = try StagedExtraction.run(root: job.root, directory: job.directory, name: job.name, extract)
            cleanup()
            job.progress?.add(files: report.files)
            job.succeed(bytes: bytes ?? pushed, files: report.files)
        } catch {
            cleanup()
            job.fail(error as? OsmoError ?? OsmoError(.io, "\(job.url): \(error)"))
        }
    }
}
