import ArgumentParser
import OsmoCore
import OsmoPod
import OsmoSystem

/// `osmo pod run|manifest`: a task pod on this machine, or its Kubernetes manifest.
struct PodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pod",
        abstract: "Run a task pod locally (init, ctrl and the user wrapper as separate processes), or print its manifest.",
        subcommands: [Run.self, Manifest.self])

    static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try OsmoCommand.parse(PodCommand.self, arguments)
            if let run = command as? Run { return try run.execute() }
            try command.run()
            return 0
        } catch {
            let code = exitCode(for: error).rawValue
            if code == 0 {
                print(OsmoCommand.explain(error))
                return 0
            }
            if let error = error as? OsmoError {
                OsmoMain.writeError("osmo pod: \(error)\n")
                return error.code == .usage ? OsmoCore.ExitCode.usage.rawValue : 1
            }
            OsmoMain.writeError(OsmoCommand.explain(error) + "\n")
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
        @Flag(help: "Enable the rsync plugin: the task serves `osmo workflow rsync` (module osmo = <run>/workspace).")
        var rsync = false
        @Option(name: .customLong("rsync-read-limit"), help: "rsync upload limit into the task, bytes/s per connection (0: none; the service's default is 2621440).")
        var rsyncReadLimit = 0
        @Option(name: .customLong("rsync-write-limit"), help: "rsync download limit out of the task, bytes/s per connection (0: none).")
        var rsyncWriteLimit = 0
        @Option(name: .customLong("rsync-path"), help: ArgumentHelp("An extra rsync module NAME:PATH:WRITABLE (true/false), as the service's allowed_paths.", valueName: "name:path:writable"))
        var rsyncPaths: [String] = []
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
            if rsync || !rsyncPaths.isEmpty || rsyncReadLimit != 0 || rsyncWriteLimit != 0 {
                guard rsyncReadLimit >= 0, rsyncWriteLimit >= 0 else { throw ValidationError("--rsync-read-limit and --rsync-write-limit take bytes/s, 0 or more") }
                var plugin = PodPlan.Rsync()
                plugin.readLimit = rsyncReadLimit
                plugin.writeLimit = rsyncWriteLimit
                plugin.paths = rsyncPaths
                plan.rsync = plugin
            }
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
        static let configuration = CommandConfiguration(
            abstract: "Print the Kubernetes Pod (and the Secrets given) that runs this task on a cluster.",
            discussion: """
            The pod is wired as the OSMO service wires it (images/pod-example.yaml): ctrl gets \
            -host/-port/-scheme/-refreshScheme from --service-url and -refreshToken /osmo/.refresh_token; \
            the refresh token, login, user and service configs come from Secrets mounted by subPath \
            (give a file to render its Secret too, else the Secret must exist). \
            `kubectl apply -f` the output.
            """)
        @Option(help: "The user container's image.")
        var image = "ubuntu:24.04"
        @Option(name: .customLong("runtime-image"), help: "The image holding osmo (images/Containerfile), for init and ctrl.")
        var runtimeImage = "osmo-runtime:latest"
        @Option(name: .customLong("init-image"), help: "The init container's image (default: --runtime-image).")
        var initImage: String?
        @Option(name: .customLong("ctrl-image"), help: "The ctrl sidecar's image (default: --runtime-image).")
        var ctrlImage: String?
        @Option(help: "The pod's name (default: <workflow>-<task>).")
        var name: String?
        @Option(name: .customLong("service-url"), help: "The OSMO service ctrl reports to, http(s)://HOST[:PORT].")
        var serviceURL = PodManifest.Deployment.exampleServiceURL
        @Option(name: .customLong("refresh-token-secret"), help: "Secret holding the task's refresh token, key refresh_token (default: <name>-refresh-token).")
        var refreshTokenSecret: String?
        @Option(name: .customLong("login-secret"), help: "Secret holding login.yaml (default: <name>-login).")
        var loginSecret: String?
        @Option(name: .customLong("user-config-secret"), help: "Secret holding user_config.yaml, the user's data credentials (default: <name>-user-config).")
        var userConfigSecret: String?
        @Option(name: .customLong("service-config-secret"), help: "Secret holding service_config.yaml, the service's data credentials (default: osmo-service-config).")
        var serviceConfigSecret: String?
        @Option(name: .customLong("refresh-token-file"), help: "Render the refresh-token Secret from this file.")
        var refreshTokenFile: String?
        @Option(name: .customLong("login-file"), help: "Render the login Secret from this login.yaml.")
        var loginFile: String?
        @Option(name: .customLong("user-config-file"), help: "Render the user-config Secret from this file.")
        var userConfigFile: String?
        @Option(name: .customLong("service-config-file"), help: "Render the service-config Secret from this file.")
        var serviceConfigFile: String?
        @Option(name: .customLong("local-layout"), help: ArgumentHelp("Render with the paths `pod run --pod-dir DIR` uses (for comparison).", visibility: .hidden))
        var localLayout: String?
        @OptionGroup var task: Task

        func run() throws {
            var plan = try task.plan()
            plan.image = image
            plan.runtimeImage = runtimeImage
            let layout = localLayout.map { PodPlan.Layout.local(FileSystem.realPath($0) ?? $0) } ?? .cluster
            var deployment = PodManifest.Deployment()
            deployment.podName = name
            deployment.serviceURL = serviceURL
            deployment.initImage = initImage
            deployment.ctrlImage = ctrlImage
            deployment.refreshTokenSecret = refreshTokenSecret
            deployment.loginSecret = loginSecret
            deployment.userConfigSecret = userConfigSecret
            deployment.serviceConfigSecret = serviceConfigSecret
            deployment.refreshToken = try refreshTokenFile.map(FileSystem.readFile)
            deployment.login = try loginFile.map(FileSystem.readFile)
            deployment.userConfig = try userConfigFile.map(FileSystem.readFile)
            deployment.serviceConfig = try serviceConfigFile.map(FileSystem.readFile)
            print(try PodManifest.yaml(plan, layout: layout, deployment: deployment), terminator: "")
        }
    }
}
