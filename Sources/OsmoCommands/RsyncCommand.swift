import ArgumentParser
import Glibc
import OsmoClient
import OsmoCore
import OsmoSystem

/// `osmo workflow rsync upload|download WF [TASK] PATH` (the reference CLI's forms; `rsync WF
/// [TASK] LOCAL:REMOTE` alone is an upload, its older form).
struct RsyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rsync",
        abstract: "Sync files into or out of a running task (rsync through the router).",
        discussion: """
        osmo workflow rsync upload my-wf task-1 ./src/:/osmo/run/workspace/src
        osmo workflow rsync download my-wf task-1 /osmo/run/workspace/results:./out
        Paths are rsync's: a trailing slash on the source sends its contents. Remote paths are \
        absolute paths in the task, under /osmo/run/workspace (module osmo) or a path the service \
        allows (GET /api/plugins/configs).
        """,
        subcommands: [Upload.self, Download.self],
        defaultSubcommand: Upload.self)

    /// What both directions take.
    struct Transfer: ParsableArguments {
        @Argument(help: "Workflow ID.") var workflow: String
        @Argument(help: "Task name, then the path (LOCAL:REMOTE for upload, REMOTE:LOCAL for download).") var words: [String] = []
        @Flag(name: .customLong("progress"), help: "Show rsync's progress (default: when stdout is a terminal).") var progress = false
        @Flag(name: .customLong("no-progress"), help: "No progress output.") var noProgress = false
        @Flag(help: "Print rsync's transfer statistics (--stats).") var stats = false
        @Flag(help: "Delete files in the destination that the source does not have (rsync --delete).") var delete = false
        @Option(name: .customLong("filter"), help: ArgumentHelp("An rsync filter rule, e.g. '- *.pyc' or '+ */' (repeatable, kept in order).", valueName: "rule")) var filters: [String] = []
        @Option(name: .customLong("include"), help: "rsync --include PATTERN (repeatable; all includes go before the excludes).") var includes: [String] = []
        @Option(name: .customLong("exclude"), help: "rsync --exclude PATTERN (repeatable).") var excludes: [String] = []
        @Option(name: .customLong("rsync-arg"), parsing: .unconditionalSingleValue, help: ArgumentHelp("An extra rsync client option, passed as given (e.g. --protocol=27).", visibility: .hidden))
        var rsyncArguments: [String] = []
        @OptionGroup var access: ServiceAccess

        func validate() throws {
            guard (1...2).contains(words.count) else { throw ValidationError("give the task name and the path: WF TASK LOCAL:REMOTE (or REMOTE:LOCAL for download)") }
            if words.count == 1 { throw ValidationError("give the task name before the path (finding the lead task needs the workflow API, which this CLI does not read yet)") }
        }

        func options(rateLimit: Int?) -> [String] {
            var options: [String] = []
            if !noProgress && (progress || isatty(1) != 0) { options.append("--progress") }
            if stats { options.append("--stats") }
            if delete { options.append("--delete") }
            if let rateLimit { options.append("--bwlimit=\(max(1, rateLimit / 1024))") }
            options += filters.map { "--filter=\($0)" }
            options += includes.map { "--include=\($0)" }
            options += excludes.map { "--exclude=\($0)" }
            options += rsyncArguments
            return options
        }

        func run(_ direction: RsyncClient.Direction, rateLimit: Int?) throws -> Int32 {
            var client = RsyncClient(service: try access.client(), workflow: workflow, task: words[0])
            client.connectTimeoutSeconds = access.connectTimeout
            client.rsyncOptions = options(rateLimit: rateLimit)
            let lookup = client
            let modules = try AsyncMain.block { try await lookup.modules() }
            return try client.run(try RsyncClient.parse(words[1], direction: direction, modules: modules))
        }
    }

    struct Upload: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload LOCAL:REMOTE into the task.")
        @OptionGroup var transfer: Transfer
        @Option(name: .customLong("upload-rate-limit"), help: "Bytes/s (rounded down to KiB/s for rsync --bwlimit); the task's own limit applies too.")
        var uploadRateLimit: Int?

        func validate() throws {
            if let uploadRateLimit, uploadRateLimit < 1024 { throw ValidationError("--upload-rate-limit takes bytes/s, at least 1024") }
        }

        func execute() throws -> Int32 { try transfer.run(.upload, rateLimit: uploadRateLimit) }
    }

    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download REMOTE:LOCAL from the task (LOCAL is a directory, created).")
        @OptionGroup var transfer: Transfer

        func execute() throws -> Int32 { try transfer.run(.download, rateLimit: nil) }
    }
}
