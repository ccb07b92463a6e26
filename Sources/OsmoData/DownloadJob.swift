import OsmoCore
import OsmoSystem
import Synchronization

/// One object on its way to disk, and the once-only report of how it ended (the transfer
/// engine, a sink or an extractor thread may each be the one that knows).
final class DownloadJob: Sendable {
    let url: String
    let name: String
    /// The download's root (everything is created beneath it) and the object's path in it.
    let root: ConfinedDirectory
    let relative: String
    /// The directory the object (or an archive's entries) lands in, relative to `root`.
    let directory: String
    let expectedSize: Int64?
    let expectedETag: String?
    let extract: Bool
    let resume: Bool
    let progress: TransferProgress?
    private let report: Mutex<(@Sendable (Result<(bytes: Int64, files: Int), OsmoError>) -> Void)?>

    init(url: String, root: ConfinedDirectory, relative: String, object: RemoteObject, options: DownloadOptions, progress: TransferProgress?,
         onDone: @escaping @Sendable (Result<(bytes: Int64, files: Int), OsmoError>) -> Void) {
        self.url = url
        self.root = root
        self.relative = relative
        self.name = Path.basename(relative)
        let parent = Path.parent(relative)
        self.directory = parent == "." ? "" : parent
        self.expectedSize = object.size
        self.expectedETag = object.etag
        self.extract = options.extract
        self.resume = options.resume
        self.progress = progress
        self.report = Mutex(onDone)
    }

    /// A sink for `name` in the object's directory (the object itself, or a zip's spool).
    func fileSink(named fileName: String) throws -> FileSink {
        try FileSink(url: url, root: root, relative: Path.join(directory, fileName), expectedSize: expectedSize,
                     expectedETag: expectedETag, resume: resume, progress: progress)
    }

    func succeed(bytes: Int64, files: Int) {
        take()?(.success((bytes, files)))
    }

    func fail(_ error: OsmoError) {
        take()?(.failure(error))
    }

    private func take() -> (@Sendable (Result<(bytes: Int64, files: Int), OsmoError>) -> Void)? {
        report.withLock { callback in
            defer { callback = nil }
            return callback
        }
    }
}
