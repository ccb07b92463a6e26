import ArgumentParser
import OsmoCore
import OsmoPod
import OsmoSystem

/// `osmo pod run|manifest`: a task pod on this machine, or its Kubernetes manifest.
struct PodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osmo pod",
        abstract: "Run a task pod locally (init, ctrl and the user wrapper as separate processes), or print its manifest.",
        subcommands: [Run.self, Manifest.self])

    static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if let run = command as? Run { return try run.execute() }
            try command.run()
            return 0
        } catch {
            let code = exitCode(for: error).rawValue
            if code == 0 {
                print(fullMessage(for: error))
                return 0
            }
            if let error = error as? OsmoError {
                OsmoMain.writeError("osmo pod: \(error)\n")
                return error.code == .usage ? OsmoCore.ExitCode.usage.rawValue : 1
            }
            OsmoMain.writeError(fullMessage(for: error) + "\n")
            return OsmoCore.ExitCode.usage.rawValue
        }
    }

    /// The task description both subcommands take.
    struct Task: ParsableArguments {
        @Option(name: .customLong("input"), help: ArgumentHelp(
            "An input: SRC (next folder), N,SRC[,REGEX], or a ctrl spec task:N,URL,REGEX / url:N,URL,REGEX. SRC may be a local path or any data URL.",
            valueName: "input"))
        var inputs: [String] = []
        @Option(name: .customLong("output"), help: ArgumentHelp(
            "Where {{output}} is uploaded: DEST (path or URL), or a ctrl spec task:URL / url:URL,REGEX / kpi:URL,PATH.", valueName: "output"))
        var outputs: [String] = []
        @Option(name: .customLong("checkpoint"), help: "path;url;freqSeconds;regex (passed to the wrapper).")
        var checkpoints: [String] = []
        @Option(name: .customLong("env"), help: "KEY=VALUE for the user's command.")
        var environment: [String] = []
        @Option(help: "Task name (the log source).")
        var task = "task"
        @Option(help: "Workflow name.")
        var workflow = "local"
        @Option(help: "Group name (default: <task>-group).")
        var group: String?
        @Option(help: "Barrier ctrl waits at (with the group's other tasks) before starting the command.")
        var barrier = ""
        @Option(name: .customLong("ctrl-arg"), parsing: .unconditionalSingleValue, help: ArgumentHelp("An extra osmo-ctrl flag or value, passed as given.", visibility: .hidden))
        var ctrlArguments: [String] = []
        @Argument(parsing: .postTerminator, help: "The command, after --. {{input:N}} and {{output}} are substituted.")
        var command: [String] = []

        func plan() throws -> PodPlan {
            guard !command.isEmpty else { throw ValidationError("give the command after --, e.g. osmo pod run -- echo hello") }
            var plan = PodPlan()
            plan.taskName = task
            plan.workflow = workflow
            plan.groupName = group
            plan.barrier = barrier
            plan.extraCtrlArguments = ctrlArguments
            plan.inputs = try inputs.enumerated().map { try PodPlan.inputSpec($0.element, position: $0.offset) }
            plan.outputs = try outputs.map(PodPlan.outputSpec)
            plan.checkpoints = checkpoints
            for pair in environment where !pair.contains("=") { throw ValidationError("--env takes KEY=VALUE, got '\(pair)'") }
            plan.environment = environment
            plan.command = command
            return plan
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the task: osmo-init, osmo-ctrl and osmo_exec as processes sharing a pod directory.",
            discussion: "Exit status: the command's (128+signal if killed), else ctrl's failure code (10 download, 12 upload, …).")
        @Option(name: .customLong("pod-dir"), help: "Pod directory (kept). Default: a temporary one, removed afterwards.")
        var podDirectory: String?
        @Flag(help: "Keep the temporary pod directory.")
        var keep = false
        @Flag(help: "Report each container's CPU time and peak memory on stderr.")
        var stats = false
        @Option(name: .customLong("service-port"), help: "Port of the embedded OSMO service (0: any free port). `osmo exec WF TASK --service http://127.0.0.1:PORT` opens a shell in the task.")
        var servicePort = 0
        @Flag(name: .customLong("no-service"), help: "Run ctrl without a service (logs to stdout and task-log.jsonl only).")
        var noService = false
        @Option(name: .customLong("service"), help: "Use the OSMO service at http(s)://HOST:PORT instead of an embedded one (e.g. `osmo service`).")
        var serviceURL: String?
        @Option(name: .customLong("refresh-token-file"), help: "The refresh token to present to --service.")
        var refreshTokenFile: String?
        @OptionGroup var task: Task

        func execute() throws -> Int32 {
            let executable = ExecutableLocation.current() ?? "/proc/self/exe"
            let runner = try PodRunner(plan: try task.plan(), podDirectory: podDirectory, keep: keep, executable: executable)
            runner.reportUsage = stats
            runner.servicePort = noService ? nil : servicePort
            if let serviceURL {
                guard let refreshTokenFile else { throw ValidationError("--service needs --refresh-token-file") }
                runner.externalService = (serviceURL, refreshTokenFile)
            }
            return try runner.run()
        }
    }

    struct Manifest: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the Kubernetes Pod that runs this task on a cluster.")
        @Option(help: "The user container's image.")
        var image = "ubuntu:24.04"
        @Option(name: .customLong("runtime-image"), help: "The image holding osmo (images/Containerfile).")
        var runtimeImage = "osmo-runtime:latest"
        @Option(name: .customLong("local-layout"), help: ArgumentHelp("Render with the paths `pod run --pod-dir DIR` uses (for comparison).", visibility: .hidden))
        var localLayout: String?
        @OptionGroup var task: Task

        func run() throws {
            var plan = try task.plan()
            plan.image = image
            plan.runtimeImage = runtimeImage
            let layout = localLayout.map { PodPlan.Layout.local(FileSystem.realPath($0) ?? $0) } ?? .cluster
            print(PodManifest.yaml(plan, layout: layout), terminator: "")
        }
    }
}
