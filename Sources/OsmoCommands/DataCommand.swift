import ArgumentParser
import Glibc
import OsmoCore
import OsmoData
import OsmoProtocol
import OsmoSystem

/// `osmo data …`: the data plane from a shell, in the user container or on a workstation.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osmo data",
        abstract: "Move datasets between object stores and local disk.",
        discussion: """
        URLs: s3://bucket/prefix, gs://bucket/prefix, tos://host/bucket/prefix, \
        swift://account/container/prefix, azure://account/container/prefix, http(s)://…, \
        file:///path or a plain path. Credentials: the config file's auth.data.<profile> entries \
        ($OSMO_CONFIG_FILE_DIR/config.yaml, ~/.config/osmo/config.yaml, --config), then \
        AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_REGION/AWS_ENDPOINT_URL, \
        AZURE_STORAGE_SAS_TOKEN. Exit codes: 0 ok, 2 bad arguments or URL, 10 download failed, \
        12 upload failed, 13 access check failed, 14 access refused.
        """,
        subcommands: [Download.self, Upload.self, List.self, Check.self])

    static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let failure as DataFailure {
            OsmoMain.writeError("osmo data: \(failure.error)\n")
            return failure.code.rawValue
        } catch {
            let code = exitCode(for: error).rawValue
            if code == 0 {
                print(fullMessage(for: error))
                return 0
            }
            OsmoMain.writeError(fullMessage(for: error) + "\n")
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

        func credentials() throws -> DataCredentials {
            try DataCredentials.load(configFiles: config + DataCredentials.defaultConfigFiles())
        }
    }

    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download a URL (object or prefix) into a directory.")
        @Argument var url: String
        @Argument var directory: String
        @Option(help: "Only paths (relative to the prefix) matching this regex, anchored at the start.")
        var regex: String?
        @Flag(inversion: .prefixedNo, help: "Continue partial downloads and skip complete files.")
        var resume = true
        @Flag(inversion: .prefixedNo, help: "Extract archives (tar, tar.gz/zst/xz/bz2, zip), detected by content.")
        var extract = true
        @OptionGroup var common: Common

        func run() throws {
            try DataFailure.wrap(upload: false) {
                let downloader = Downloader(credentials: try common.credentials())
                let record = try DataCommand.showingProgress(downloader.progress, label: "download") {
                    try downloader.download(url, into: directory, options: DownloadOptions(regex: regex, extract: extract, resume: resume))
                }
                print("Downloaded \(record.files) files (\(TransferProgress.size(record.bytes))) from \(url) to \(directory) in \(record.elapsedText)")
            }
        }
    }

    struct Upload: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload files or directories under a URL.")
        @Argument var url: String
        @Argument var paths: [String]
        @Option(help: "Only paths (relative to each directory) matching this regex, anchored at the start.")
        var regex: String?
        @OptionGroup var common: Common

        func run() throws {
            try DataFailure.wrap(upload: true) {
                let uploader = Uploader(credentials: try common.credentials())
                let record = try DataCommand.showingProgress(uploader.progress, label: "upload") {
                    try uploader.upload(paths, to: url, regex: regex)
                }
                for warning in record.warnings { OsmoMain.writeError("osmo data: \(warning)\n") }
                print("Uploaded \(record.files) files (\(TransferProgress.size(record.bytes))) to \(url) in \(record.elapsedText)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the objects under a URL (size and path).")
        @Argument var url: String
        @Option(help: "Only paths matching this regex, anchored at the start.")
        var regex: String?
        @OptionGroup var common: Common

        func run() throws {
            try DataFailure.wrap(upload: false) {
                for object in try DataListing.list(url, regex: regex, credentials: try common.credentials()) {
                    print("\(object.size.map(String.init) ?? "-")\t\(object.relativePath)")
                }
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check access; prints {\"status\":\"pass\"|\"fail\",…}.")
        @Argument var url: String
        @Option(name: .customLong("access-type"), help: "READ or WRITE.")
        var accessType = "READ"
        @OptionGroup var common: Common

        func run() throws {
            guard let kind = DataAccess.Kind(rawValue: accessType.uppercased()) else {
                throw ValidationError("--access-type must be READ or WRITE")
            }
            do {
                try DataAccess.check(url, kind, credentials: try common.credentials())
                print("{\"status\":\"pass\"}")
            } catch {
                let message = GoJSON.quote("\(error)")
                print("{\"status\":\"fail\",\"error\":\(message)}")
                let code = (error as? OsmoError)?.code
                throw DataFailure(error: error as? OsmoError ?? OsmoError(.dataAuth, "\(error)"),
                                  code: code == .invalidInput ? OsmoCore.ExitCode.usage : code == .unauthorized ? .dataUnauthorized : .dataAuthCheckFailed)
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
