import OsmoCore
import OsmoSystem
import Synchronization

/// One object on its way to disk, and the once-only report of how it ended (the transfer
/// engine, a sink or an extractor thread may each be the one that knows).
final class DownloadJob: Sendable {
    let url: String
    let name: String
    /// The directory the object (or an archive's entries) lands in.
    let directory: String
    let finalPath: String
    let expectedSize: Int64?
    let expectedETag: String?
    let extract: Bool
    let resume: Bool
    let progress: TransferProgress?
    private let report: Mutex<(@Sendable (Result<(bytes: Int64, files: Int), OsmoError>) -> Void)?>

    init(url: String, finalPath: String, object: RemoteObject, options: DownloadOptions, progress: TransferProgress?,
         onDone: @escaping @Sendable (Result<(bytes: Int64, files: Int), OsmoError>) -> Void) {
        self.url = url
        self.finalPath = finalPath
        self.name = Path.basename(finalPath)
        self.directory = Path.parent(finalPath)
        self.expectedSize = object.size
        self.expectedETag = object.etag
        self.extract = options.extract
        self.resume = options.resume
        self.progress = progress
        self.report = Mutex(onDone)
    }

    func fileSink(at path: String) throws -> FileSink {
        try FileSink(url: url, finalPath: path, expectedSize: expectedSize, expectedETag: expectedETag, resume: resume, progress: progress)
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
