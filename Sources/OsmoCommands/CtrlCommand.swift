import Glibc
import OsmoCore
import OsmoCtrl
import OsmoSystem
import OsmoTransfer

/// `osmo-ctrl` / `osmo ctrl`: the sidecar, with the reference's Go-style flags.
enum CtrlCommand {
    static func options(from flags: GoFlags) throws -> CtrlOptions {
        var options = CtrlOptions()
        options.inputs = try flags.list("inputs").map(InputSpec.init(parsing:))
        options.outputs = try flags.list("outputs").map(OutputSpec.init(parsing:))
        options.workflow = flags.string("workflow")
        options.groupName = flags.string("groupName")
        options.retryID = flags.string("retryId")
        options.logSource = flags.string("logSource")
        options.barrier = flags.string("barrier")
        options.socketPath = flags.string("socketPath")
        options.inputPath = flags.string("inputPath")
        options.outputPath = flags.string("outputPath")
        options.userConfig = flags.string("userConfig")
        options.serviceConfig = flags.string("serviceConfig")
        options.unixTimeoutMinutes = flags.int("unixTimeout")
        if let notice = getenv("OSMO_CTRL_WAIT_NOTICE_SECONDS").flatMap({ Double(String(cString: $0)) }), notice > 0 {
            options.waitNoticeSeconds = notice
        }
        options.dataTimeoutMinutes = flags.int("dataTimeout")
        options.execTimeoutMinutes = max(1, flags.int("execTimeout"))
        options.service = serviceOptions(from: flags)
        let keep = flags.isSet("keepArchives") ? flags.string("keepArchives") : getenv("OSMO_KEEP_ARCHIVES").map { String(cString: $0) } ?? ""
        options.archives = try ArchivePolicy(parsing: keep)
        options.logFile = flags.string("logFile")
        if options.logFile.isEmpty && !options.inputPath.isEmpty {
            options.logFile = Path.join(Path.parent(options.inputPath), "osmo-ctrl.jsonl")
        }
        return options
    }

    /// The service is used when `-host` is given (the OSMO service always passes it) or the
    /// refresh token file exists; otherwise ctrl runs on its own (logs to stdout and the file).
    static func serviceOptions(from flags: GoFlags) -> ServiceOptions? {
        var service = ServiceOptions()
        service.scheme = flags.string("scheme")
        service.host = flags.string("host")
        service.port = flags.int("port")
        service.refreshTokenFile = flags.string("refreshToken")
        service.refreshScheme = flags.string("refreshScheme")
        let tokenHeader = flags.string("tokenHeader")
        service.tokenHeader = tokenHeader.isEmpty ? nil : tokenHeader
        service.timeoutMinutes = max(1, flags.int("timeout"))
        service.logsBufferSize = max(1, flags.int("logsBufferSize"))
        guard !service.host.isEmpty, flags.isSet("host") || FileSystem.exists(service.refreshTokenFile) else { return nil }
        return service
    }

    static func execute(program: String, arguments: [String]) -> Int32 {
        var flags = CtrlFlags.spec(program: program)
        let termination = TerminationLog()
        if let status = flags.parseCommandLine(arguments) {
            if status != 0 { tellWrapper(arguments, program: program) }
            return status
        }
        let options: CtrlOptions
        do {
            options = try self.options(from: flags)
            for (name, value) in [("socketPath", options.socketPath), ("inputPath", options.inputPath), ("outputPath", options.outputPath)] where value.isEmpty {
                throw OsmoError(.invalidInput, "-\(name) is required")
            }
        } catch {
            OsmoMain.writeError("\(program): \(error)\n")
            termination.write(.invalidInput)
            tellWrapper(arguments, program: program)
            return ExitCode.invalidInput.rawValue
        }
        TransferEngine.sharedConfiguration.withLock { $0.stallSeconds = max(options.dataTimeoutMinutes, 1) * 60 }
        let console = ConsoleLogSink()
        // Whatever ctrl printed last reaches stdout before the process ends (bounded: a stdout
        // nobody reads must not keep a finished ctrl alive).
        defer { console.drain(timeout: 10) }
        var sinks: [any LogSink] = [console]
        do {
            sinks.append(try JSONLinesLogSink(path: options.logFile))
        } catch {
            OsmoMain.writeError("\(program): \(error) (continuing with stdout only)\n")
        }
        do {
            return try Controller(options: options, sink: LogFanOut(sinks), termination: termination).run()
        } catch {
            OsmoMain.writeError("\(program): \(error)\n")
            termination.write(.misc)
            return ExitCode.misc.rawValue
        }
    }

    /// After a start-up failure: the wrapper still learns of it (`EarlyFailure`). The socket and
    /// the wait come from the raw arguments, which may not have parsed.
    static func tellWrapper(_ arguments: [String], program: String) {
        let socket = GoFlags.rawValue(of: "socketPath", in: arguments) ?? ""
        let minutes = GoFlags.rawValue(of: "unixTimeout", in: arguments).flatMap { Int($0) } ?? 120
        EarlyFailure.tellWrapper(socketPath: socket, waitMinutes: max(minutes, 1)) { line in
            OsmoMain.writeError("\(program): \(line)\n")
        }
    }
}
