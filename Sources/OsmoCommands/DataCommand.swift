import ArgumentParser
import Glibc
import OsmoCore
import OsmoData
import OsmoSystem
import OsmoTransfer

/// `osmo data …`: the data plane from a shell, in the user container or on a workstation. It takes
/// the reference CLI's command lines (`src/cli/data.py`: short and long flags, list and check
/// output byte for byte, the benchmark files), since users' scripts inside tasks call it.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Move datasets between object stores and local disk.",
        discussion: """
        URLs: s3://bucket/prefix, gs://bucket/prefix, tos://host/bucket/prefix, \
        swift://host/namespace/container/prefix, azure://account/container/prefix, http(s)://…, \
        file:///path or a plain path. Credentials: the platform's auth.data.<profile> entries \
        {endpoint: <storage URI>, region, access_key_id, access_key, override_url: <http(s) \
        endpoint>, addressing_style: virtual|path|auto} (--config, which must exist, then \
        $OSMO_CONFIG_FILE_DIR/config.yaml, ~/.config/osmo/config.yaml), then \
        AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_REGION/AWS_ENDPOINT_URL, \
        AZURE_STORAGE_SAS_TOKEN. Exit codes: 0 ok (also a failed `check`, which says so in its \
        JSON, unless --exit-code), 2 bad arguments, URL or config file, 10 download or list failed, \
        12 upload or delete failed, 13 access check failed, 14 access refused or no credentials.
        """,
        subcommands: [Download.self, Upload.self, List.self, Delete.self, Check.self])

    static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try OsmoCommand.parse(DataCommand.self, arguments)
            try command.run()
            return 0
        } catch let failure as DataFailure {
            OsmoMain.writeError("osmo data: \(failure.error)\n")
            return failure.code.rawValue
        } catch {
            let code = exitCode(for: error).rawValue
            if code == 0 {
                print(OsmoCommand.explain(error))
                return 0
            }
            OsmoMain.writeError(OsmoCommand.explain(error) + "\n")
            return ExitCode.usage.rawValue
        }
    }

    /// Runs `body` with `progress` drawn on stderr: redrawn in place on a terminal, periodic lines
    /// otherwise; the last line is out before `body`'s result is printed.
    static func showingProgress<T>(_ progress: TransferProgress, label: String, _ body: () throws -> T) rethrows -> T {
        let reporter = ProgressReporter(progress, live: isatty(2) != 0, label: label) {
            OsmoMain.writeError($0.hasPrefix("\r") ? $0 : $0 + "\n")
        }
        defer { reporter.stop() }
        return try body()
    }

    struct Common: ParsableArguments {
        @Option(help: "A credentials file (the platform's config shape); may be repeated.")
        var config: [String] = []

        /// Each `--config` file must exist and parse (else exit 2, naming it); the default
        /// files are read when present.
        func credentials() throws -> DataCredentials {
            let credentials = DataCredentials.load(required: config, optional: DataCredentials.defaultConfigFiles())
            try credentials.checkFiles()
            return credentials
        }
    }

    /// The reference's executor flags and metrics directory, shared by upload and download.
    struct Tuning: ParsableArguments {
        @Option(name: [.customShort("p"), .long],
                help: "Processes, as the reference's executor (default: the cores). With --threads it bounds the transfers in flight: processes × threads.")
        var processes: Int?
        @Option(name: [.customShort("T"), .long], help: "Threads per process (reference default 20); see --processes.")
        var threads: Int?
        @Option(name: [.customShort("b"), .customLong("benchmark-out")],
                help: ArgumentHelp("Write this transfer's metrics into DIR as upload_objects_<ms>.json / download_objects_<ms>.json (the reference's format).", valueName: "DIR"))
        var benchmarkOut: String?

        /// The reference's threads per process, when only --processes is given.
        static let referenceThreads = 20
        /// Transfers in flight at most, whatever the product (file descriptors, memory).
        static let maximumConcurrency = 256

        func validate() throws {
            if let processes, processes < 1 { throw ValidationError("--processes must be at least 1") }
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        /// Sets the shared engine's concurrency to processes × threads when either is given
        /// (our one curl multi loop runs them all; 256 at most). Before the engine's first use.
        func apply() {
            guard processes != nil || threads != nil else { return }
            let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            let (p, t) = (processes ?? cores, threads ?? Tuning.referenceThreads)
            let product = p.multipliedReportingOverflow(by: t)
            let limit = product.overflow ? Tuning.maximumConcurrency : min(product.partialValue, Tuning.maximumConcurrency)
            TransferEngine.sharedConfiguration.withLock { $0.maxConcurrent = limit }
        }

        /// Runs a transfer and writes its metrics file (also after a failure, with what moved, as
        /// the reference does for an `OperationError`); a file that cannot be written is a warning.
        func run(_ operation: DataBenchmark.Operation, progress: TransferProgress, _ body: () throws -> TransferRecord) throws -> TransferRecord {
            apply()
            let start = Clock.epochSeconds
            let label = operation == .upload ? "upload" : "download"
            do {
                let record = try DataCommand.showingProgress(progress, label: label, body)
                // Files an earlier run completed are not "transferred". (Their bytes are still in
                // `record.bytes`: TransferRecord does not count them apart yet.)
                write(operation, DataBenchmark(start: record.start, end: record.end, bytes: record.bytes, files: record.files - record.skipped))
                return record
            } catch {
                let moved = progress.snapshot
                write(operation, DataBenchmark(start: start, end: Clock.epochSeconds, bytes: moved.bytes, files: moved.files))
                throw error
            }
        }

        private func write(_ operation: DataBenchmark.Operation, _ metrics: DataBenchmark) {
            guard let benchmarkOut else { return }
            do { try metrics.write(operation, into: benchmarkOut) } catch {
                OsmoMain.writeError("osmo data: Failed to create metrics file, skipping: \(error)\n")
            }
        }
    }

    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a URL (object or prefix) into a directory.",
            discussion: "Ex. osmo data download s3://bucket/path/to/data /local/dir")
        @Argument(help: "The object or prefix to download.") var url: String
        @Argument(help: "The directory to download into (created when missing).") var directory: String
        @Option(name: [.customShort("x"), .long], help: "Only paths (relative to the prefix) matching this regex, anchored at the start.")
        var regex: String?
        @Flag(name: [.customShort("r"), .long], inversion: .prefixedNo,
              help: "Continue partial downloads and skip complete files (on by default: a partial file is never presented as complete either way).")
        var resume = true
        @Flag(inversion: .prefixedNo, help: "Extract archives (tar, tar.gz/zst/xz/bz2, zip), detected by content.")
        var extract = true
        @OptionGroup var tuning: Tuning
        @OptionGroup var common: Common

        func run() throws {
            try DataFailure.wrap(upload: false) {
                let downloader = Downloader(credentials: try common.credentials())
                let record = try tuning.run(.download, progress: downloader.progress) {
                    try downloader.download(url, into: directory, options: DownloadOptions(regex: regex, extract: extract, resume: resume))
                }
                print("Downloaded \(record.files) files (\(TransferProgress.size(record.bytes))) from \(url) to \(directory) in \(record.elapsedText)")
            }
        }
    }

    struct Upload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload files or directories under a URL.",
            discussion: """
            DIR keeps its name (URL/DIR/…), DIR/* uploads its contents. One regular file to a URL \
            that does not end in / is stored exactly at that URL (aws s3 cp); to URL/ it keeps \
            its basename. Ex. osmo data upload s3://bucket/ /path/to/file
            """)
        @Argument(help: "Where the data goes.") var url: String
        @Argument(help: "Files or directories (DIR/* for the contents).") var paths: [String]
        @Option(name: [.customShort("x"), .long], help: "Only paths (relative to each directory) matching this regex, anchored at the start.")
        var regex: String?
        @OptionGroup var tuning: Tuning
        @OptionGroup var common: Common

        func run() throws {
            try DataFailure.wrap(upload: true) {
                let uploader = Uploader(credentials: try common.credentials())
                let record = try tuning.run(.upload, progress: uploader.progress) {
                    if Uploader.namesOneObject(paths, to: url) {
                        return try uploader.upload(file: paths[0], asObject: url, regex: regex)
                    }
                    return try uploader.upload(paths, to: url, regex: regex)
                }
                for warning in record.warnings { OsmoMain.writeError("osmo data: \(warning)\n") }
                print("Uploaded \(record.files) files (\(TransferProgress.size(record.bytes))) to \(url) in \(record.elapsedText)")
            }
        }
    }
}

/// A data error with its exit code, carried out of ArgumentParser's `run`.
struct DataFailure: Error {
    let error: OsmoError
    let code: OsmoCore.ExitCode

    static func wrap(upload: Bool, _ body: () throws -> Void) throws {
        do { try body() } catch let error as OsmoError {
            throw DataFailure(error: error, code: OsmoCore.ExitCode.forTransfer(error.code, upload: upload, cli: true))
        }
    }
}
