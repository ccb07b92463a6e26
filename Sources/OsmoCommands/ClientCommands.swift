import ArgumentParser
import Glibc
import OsmoClient
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// The workstation commands: `osmo exec`, `osmo port-forward`, and the reference CLI's
/// `osmo workflow exec|port-forward|rsync` forms.
enum ClientCommands {
    enum Entry { case exec, portForward, workflow }

    static func execute(_ entry: Entry, _ arguments: [String]) -> Int32 {
        do {
            let command: ParsableCommand = switch entry {
            case .exec: try OsmoCommand.parse(ExecCommand.self, arguments)
            case .portForward: try OsmoCommand.parse(PortForwardCommand.self, arguments)
            case .workflow: try OsmoCommand.parse(WorkflowCommand.self, arguments)
            }
            if let exec = command as? ExecCommand { return try exec.execute() }
            if let forward = command as? PortForwardCommand { return try forward.execute() }
            if let upload = command as? RsyncCommand.Upload { return try upload.execute() }
            if let download = command as? RsyncCommand.Download { return try download.execute() }
            var other = command
            try other.run()
            return 0
        } catch {
            let code = WorkflowCommand.exitCode(for: error).rawValue
            if code == 0 {
                print(OsmoCommand.explain(error))
                return 0
            }
            if let error = error as? OsmoError {
                OsmoMain.writeError("osmo: \(error)\n")
                return error.code == .usage ? OsmoCore.ExitCode.usage.rawValue : 1
            }
            if code == ArgumentParser.ExitCode.validationFailure.rawValue || error is CommandLineMistake {
                OsmoMain.writeError(OsmoCommand.explain(error) + "\n")
                return OsmoCore.ExitCode.usage.rawValue
            }
            OsmoMain.writeError("osmo: \(error)\n")
            return 1
        }
    }
}

/// Where the service is and who we are.
struct ServiceAccess: ParsableArguments {
    @Option(name: .customLong("service"), help: "The OSMO service URL (default: $OSMO_SERVICE_URL, else the login file's url, else http://127.0.0.1:8000).")
    var serviceURL: String?
    @Option(name: .customLong("token-file"), help: "File holding a bearer token (default: $OSMO_TOKEN, else the reference CLI's login file: $OSMO_CONFIG_FILE_DIR/login.yaml, else ~/.config/osmo/login.yaml; else ~/.osmo/token).")
    var tokenFile: String?
    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for each connection: to the service, then the router (default 60, as the reference CLI).")
    var connectTimeout = 60.0

    func validate() throws {
        guard connectTimeout > 0 else { throw ValidationError("--connect-timeout takes a positive number of seconds, got \(connectTimeout)") }
    }

    func client() throws -> ServiceClient {
        let environment = { (name: String) in getenv(name).map { String(cString: $0) } }
        // The action request's connection too (the router's websockets get it as their
        // handshake timeout). The engine is created on its first request, after this.
        TransferEngine.sharedConfiguration.withLock { $0.connectTimeoutSeconds = max(1, Int(connectTimeout.rounded(.up))) }
        // Explicit flags and variables first; then the login file the platform mounts in every
        // task (and `osmo login` writes on a workstation), as the reference CLI finds it.
        let login = try LoginFile.find()
        let url = serviceURL ?? environment("OSMO_SERVICE_URL") ?? login?.url ?? "http://127.0.0.1:8000"
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ValidationError("the service URL must start with http:// or https://, got '\(url)'")
        }
        if let tokenFile { return ServiceClient(baseURL: url, credentials: .bearer(try FileSystem.readText(tokenFile).trimmingSpaces())) }
        if let token = environment("OSMO_TOKEN") { return ServiceClient(baseURL: url, credentials: .bearer(token)) }
        if let login { return ServiceClient(baseURL: url, credentials: .login(login)) }
        if let legacy = environment("HOME").map({ "\($0)/.osmo/token" }), FileSystem.exists(legacy) {
            return ServiceClient(baseURL: url, credentials: .bearer(try FileSystem.readText(legacy).trimmingSpaces()))
        }
        return ServiceClient(baseURL: url, credentials: .none)
    }
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Open a shell in a running task, or run a command there.",
        discussion: """
        osmo exec my-workflow task-1                  an interactive /bin/bash
        osmo exec my-workflow task-1 -- python3 x.py  a command (quoted for the remote shell)
        osmo exec wf t -- cat big.bin > big.bin       a pipe: bytes exact, stderr apart
        As kubectl exec: a terminal only with -t, or when stdin and stdout both are terminals;
        otherwise pipes, with stdin sent when -i is given or stdin is not a terminal.
        The exit status is the remote command's (255 when the session was cut before it came).
        """)

    @Argument(help: "Workflow ID.") var workflow: String
    @Argument(help: "Task name.") var task: String
    @Option(help: "The command to run (the reference CLI's form); default /bin/bash.") var entry: String?
    @Flag(name: [.customShort("i"), .customLong("stdin")], help: "Send stdin to the command (default: when stdin is not a terminal, or with a terminal session).")
    var interactive = false
    @Flag(name: [.customShort("t"), .customLong("tty")], help: "Run the command on a terminal (default: when stdin and stdout both are terminals).")
    var tty = false
    @OptionGroup var access: ServiceAccess
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] = []

    func validate() throws {
        if entry != nil && !command.isEmpty { throw ValidationError("give the command either with --entry or after --, not both") }
    }

    func execute() throws -> Int32 {
        let signals = try ExecClient.signals()
        let explicit = interactive || tty
        var client = ExecClient(service: try access.client(), workflow: workflow, task: task,
                                entry: entry ?? (command.isEmpty ? "/bin/bash" : command.map(ShellQuote.quote).joined(separator: " ")),
                                tty: explicit ? tty : nil, interactive: explicit ? (interactive || (tty && isatty(0) != 0)) : nil)
        client.connectTimeoutSeconds = access.connectTimeout
        let session = client
        return try AsyncMain.block { try await session.run(signals: signals) }
    }
}

struct PortForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "port-forward",
        abstract: "Forward local ports to a running task's ports.",
        discussion: """
        osmo port-forward my-workflow task-1 --port 8888 --port 9000:6006
        osmo port-forward my-workflow task-1 --port 8000-8010:9000-9010,8015
        A connection to the task that ends is made again, with the reference CLI's backoff \
        ("Reconnect to remote port 9000 in 3 seconds..."); the forward ends when the service \
        refuses a new session (the task is gone) or on Ctrl-C.
        """)

    @Argument(help: "Workflow ID.") var workflow: String
    @Argument(help: "Task name.") var task: String
    @Option(help: "LOCAL[:REMOTE], or ranges A-B[:C-D] (inclusive, equal lengths), comma-separated: \"8000:2000\", \"8000\", \"8000-8010:9000-9010,8015-8016\" (repeatable; REMOTE defaults to LOCAL; LOCAL 0 picks a free port).") var port: [String] = []
    @Flag(help: "Forward UDP instead of TCP.") var udp = false
    @Option(help: "Local address to listen on.") var host = "127.0.0.1"
    @OptionGroup var access: ServiceAccess

    func validate() throws {
        guard !port.isEmpty else { throw ValidationError("give at least one --port LOCAL[:REMOTE] (or ranges: 8000-8010:9000-9010,8015)") }
        do {
            _ = try mappings()
        } catch let error as OsmoError {
            throw ValidationError("--port: \(error.message)")
        }
    }

    func mappings() throws -> [PortForwardClient.Mapping] {
        try port.flatMap(PortForwardClient.Mapping.parse)
    }

    func execute() throws -> Int32 {
        let mappings = try mappings()
        var client = PortForwardClient(service: try access.client(), workflow: workflow, task: task)
        client.host = host
        client.udp = udp
        client.connectTimeoutSeconds = access.connectTimeout
        let proto = udp ? "udp" : "tcp"
        client.ready = { [workflow, task, host] mapping, bound in
            try? FileSystem.writeAll(1, "Forwarding \(host):\(bound) -> \(workflow)/\(task):\(mapping.remote) (\(proto))\n", what: "stdout")
        }
        let forward = client
        try AsyncMain.block { try await forward.run(mappings) }
        return 0
    }
}

struct WorkflowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow",
        abstract: "The reference CLI's workflow commands.",
        subcommands: [ExecCommand.self, PortForwardCommand.self, RsyncCommand.self])
}

/// Quotes a word for a POSIX shell (the wrapper shell-splits the entry command).
enum ShellQuote {
    static func quote(_ word: String) -> String {
        if !word.isEmpty, word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }) { return word }
        return "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
