import Logging
import OsmoCore
import OsmoWrapper

/// `osmo_exec` / `osmo user`: the wrapper, with the reference's Go-style flags (PROTOCOL.md §5).
enum UserCommand {
    static func flags(program: String) -> GoFlags {
        var flags = GoFlags(program: program)
        flags.list("commands", "Pod commands.")
        flags.list("args", "Pod args.")
        flags.list("checkpoint", "Checkpoint information (path;url;freqSeconds;regex).")
        flags.string("socketPath", "", "Socket Location.")
        flags.int("unixTimeout", 120, "osmo_exec wait time (m) for the unix connection.")
        flags.string("userBinPath", "/osmo/usr/bin", "User bin path.")
        flags.string("historyFilePath", "/osmo/data/.bash_history", "History file path.")
        flags.string("runLocation", "/osmo/run", "Run location.")
        flags.bool("enableRsync", "Enable rsync.")
        flags.int("rsyncReadLimit", 0, "Read limit in bytes per second.")
        flags.int("rsyncWriteLimit", 0, "Write limit in bytes per second.")
        flags.string("rsyncPathAllowList", "", "Allowed paths for rsync.")
        flags.string("cliAutoCompleteScriptPath", "/osmo/usr/bin/osmo_cli/osmo/autocomplete.bash", "CLI auto complete file path.")
        flags.bool("rsyncDaemon", "Serve rsync on -rsyncPort (osmo_exec starts itself so with -enableRsync).")
        flags.int("rsyncPort", WrapperOptions().rsyncPort, "Port of the rsync daemon (default $OSMO_RSYNC_PORT, else 16000).")
        flags.int("gracePeriod", 10, "Seconds between forwarding SIGTERM to the command and SIGKILL.")
        return flags
    }

    static func options(from flags: GoFlags) -> WrapperOptions {
        var options = WrapperOptions()
        // The reference: program = first -commands; the other -commands, then -args, follow it.
        options.command = flags.list("commands") + flags.list("args") + flags.positional
        options.checkpoints = flags.list("checkpoint")
        options.socketPath = flags.string("socketPath")
        options.unixTimeoutMinutes = flags.int("unixTimeout")
        options.userBinPath = flags.string("userBinPath")
        options.historyFilePath = flags.string("historyFilePath")
        options.runLocation = flags.string("runLocation")
        options.enableRsync = flags.bool("enableRsync")
        options.rsyncReadLimit = flags.int("rsyncReadLimit")
        options.rsyncWriteLimit = flags.int("rsyncWriteLimit")
        options.rsyncPathAllowList = flags.string("rsyncPathAllowList")
        options.rsyncPort = flags.int("rsyncPort")
        options.cliAutoCompleteScriptPath = flags.string("cliAutoCompleteScriptPath")
        options.gracePeriodSeconds = flags.int("gracePeriod")
        return options
    }

    static func execute(program: String, arguments: [String]) -> Int32 {
        var flags = flags(program: program)
        if let status = flags.parseCommandLine(arguments) { return status }
        let options = options(from: flags)
        if flags.bool("rsyncDaemon") { return runRsyncDaemon(flags) }
        guard !options.command.isEmpty else {
            OsmoMain.writeError("\(program): no command to run (give -commands)\n")
            return ExitCode.usage.rawValue
        }
        guard !options.socketPath.isEmpty else {
            OsmoMain.writeError("\(program): -socketPath is required\n")
            return ExitCode.usage.rawValue
        }
        var logger = Logger(label: "osmo_exec") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .info
        do {
            return try UserWrapper(options: options, logger: logger).execute()
        } catch {
            OsmoMain.writeError("\(program): \(error)\n")
            return ExitCode.ctrlUnavailable.rawValue
        }
    }
}

extension UserCommand {
    /// `osmo_exec -rsyncDaemon`: the task's rsync daemon, as the wrapper starts it.
    static func runRsyncDaemon(_ flags: GoFlags) -> Int32 {
        var options = RsyncDaemon.Options()
        options.port = flags.int("rsyncPort")
        options.runLocation = flags.string("runLocation")
        options.readLimit = flags.int("rsyncReadLimit")
        options.writeLimit = flags.int("rsyncWriteLimit")
        options.pathAllowList = flags.string("rsyncPathAllowList")
        let log: (String) -> Void = { OsmoMain.writeError("osmo_exec rsync: \($0)\n") }
        do {
            return try RsyncDaemon(options: options, log: log).run()
        } catch {
            log("\(error)")
            return 1
        }
    }
}
