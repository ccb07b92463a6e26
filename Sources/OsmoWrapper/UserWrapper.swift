import Glibc
import Logging
import OsmoCore
import OsmoProtocol
import OsmoSystem

/// `osmo_exec`: the user container's entrypoint and PID 1 (PROTOCOL.md §5).
///
/// One thread runs a `poll` loop over the ctrl socket, the command's stdout/stderr pipes and a
/// signalfd; nothing is lost because a slow ctrl makes the socket write block, which stops the
/// pipe reads, which blocks the command: backpressure all the way to the writer.
public final class UserWrapper {
    public let options: WrapperOptions
    let logger: Logger
    let signals: SignalChannel
    var channel: MessageChannel?
    var stream = MessageStream()
    var run: CommandRun?
    var outputFolder = ""
    var lastTermination: ChildProcess.Termination?
    var started = false
    /// Why the wrapper is ending, once it is: it exits as soon as the command has stopped.
    enum Ending {
        /// SIGTERM/SIGINT/SIGHUP: exit with the command's own status (it may stop gracefully).
        case signal(Int32)
        /// ctrl closed the socket while the command ran.
        case ctrlGone
        /// ctrl sent CtrlFailed.
        case ctrlFailed
    }
    var ending: Ending?

    func exitStatus(for ending: Ending) -> Int32 {
        switch ending {
        case .signal(let signal): lastTermination?.exitStatus ?? ExitCode.status(signal: signal)
        case .ctrlGone: ExitCode.ctrlUnavailable.rawValue
        case .ctrlFailed: 0
        }
    }
    var pendingStopReply = false
    var restartAfterStop = false
    var checkpoints: Checkpoints?
    /// The task's rsync daemon, with `-enableRsync`.
    var rsync: RsyncSupervisor?

    public init(options: WrapperOptions, logger: Logger) throws {
        self.options = options
        self.logger = logger
        SignalChannel.ignoreBrokenPipe()
        signals = try SignalChannel([SIGCHLD, SIGTERM, SIGINT, SIGHUP])
    }

    /// Runs until the task is over; returns the wrapper's exit status.
    public func execute() -> Int32 {
        ProcessControl.becomeSubreaper()
        prepareEnvironment()
        do {
            let socket = try connectToCtrl()
            channel = MessageChannel(socket: socket)
            defer { rsync?.stop() }
            return try loop(socket)
        } catch let error as WrapperExit {
            return error.status
        } catch {
            logger.error("\(error)")
            return ExitCode.ctrlUnavailable.rawValue
        }
    }

    // MARK: set-up

    /// `PATH` gains the user bin dir (Kubernetes cannot expand `$PATH` in a pod spec); the shell
    /// history file is created so exec sessions share it.
    func prepareEnvironment() {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        setenv("PATH", path.isEmpty ? options.userBinPath : "\(path):\(options.userBinPath)", 1)
        let fd = open(options.historyFilePath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        if fd >= 0 {
            fchmod(fd, 0o644)
            close(fd)
        }
        // The in-task CLI's completion in exec shells (the reference's user.go does the same).
        if case .skipped(let reason) = BashStartup.sourceCompletion(options.cliAutoCompleteScriptPath, home: getenv("HOME").map { String(cString: $0) }) {
            logger.debug("completion: \(reason)")
        }
    }

    /// Dials ctrl with exponential backoff (10 ms → 1 s) until `-unixTimeout`, staying responsive to signals.
    func connectToCtrl() throws -> UnixSocket {
        let deadline = Clock.now + Double(options.unixTimeoutMinutes) * 60
        var delay = 0.01
        var lastError = ""
        while true {
            do {
                return try UnixSocket.connect(to: options.socketPath)
            } catch {
                lastError = "\(error)"
            }
            if Clock.now >= deadline {
                throw OsmoError(.io, "osmo-ctrl did not accept a connection on \(options.socketPath) within \(options.unixTimeoutMinutes) min (\(lastError))")
            }
            if try Poll.wait(signals.fd, events: Int16(POLLIN), timeoutMilliseconds: Int32(delay * 1000)) {
                for signal in signals.drain() where signal != SIGCHLD {
                    logger.info("signal \(signal) while waiting for osmo-ctrl: exiting")
                    throw WrapperExit(status: ExitCode.status(signal: signal))
                }
                reapOrphans()
            }
            delay = min(delay * 2, 1)
        }
    }

    // MARK: the loop

    func loop(_ socket: UnixSocket) throws -> Int32 {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var socketOpen = true
        while true {
            var fds = [pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
            if socketOpen { fds.append(pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)) }
            if let run {
                for pipe in run.openPipes { fds.append(pollfd(fd: pipe, events: Int16(POLLIN), revents: 0)) }
            }
            try Poll.wait(&fds, timeoutMilliseconds: nextTimeout())

            for entry in fds where entry.revents != 0 {
                if entry.fd == signals.fd {
                    handleSignals()
                } else if socketOpen && entry.fd == socket.fd {
                    let n = buffer.withUnsafeMutableBytes { try? socket.read(into: $0) } ?? 0
                    if n == 0 {
                        socketOpen = false
                        ctrlClosed()
                    } else {
                        let events = buffer.withUnsafeBytes { stream.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                        for event in events { try handle(event) }
                    }
                } else if let run {
                    try pumpPipe(entry.fd, run: run, buffer: &buffer)
                }
            }
            try checkDeadlines()
            if let status = try finishRunIfDone() { return status }
            if run == nil, let ending { return exitStatus(for: ending) }
            if !socketOpen && run == nil {
                return lastTermination?.exitStatus ?? ExitCode.ctrlUnavailable.rawValue
            }
        }
    }

    func nextTimeout() -> Int32 {
        let deadlines = [run?.killDeadline, run?.drainDeadline, rsync?.nextDeadline].compactMap { $0 }
        guard let next = deadlines.min() else { return -1 }
        return Int32(max(0, min((next - Clock.now) * 1000 + 1, 60_000)))
    }

    // MARK: ctrl messages

    func handle(_ event: MessageStream.Event) throws {
        switch event {
        case .message(let message):
            try handle(message)
        case .garbage(let bytes):
            logger.warning("ignored \(bytes) bytes from osmo-ctrl that are not a JSON object")
        case .oversize(let bytes):
            logger.warning("ignored a \(bytes)-byte message from osmo-ctrl (limit \(stream.maxMessageBytes))")
        case .invalid(let reason):
            logger.warning("ignored a message from osmo-ctrl: \(reason)")
        }
    }

    func handle(_ message: SocketMessage) throws {
        switch message.type {
        case .execStart:
            guard !started else {
                logger.warning("ignored a second ExecStart")
                return
            }
            started = true
            outputFolder = message.outputFolder
            try reportUnsupportedFeatures()
            if options.enableRsync {
                rsync = RsyncSupervisor(options: options, logger: logger, port: options.rsyncPort)
                rsync?.start(channel)
            }
            startCheckpoints()
            startCommand()
        case .ctrlFailed:
            logger.info("osmo-ctrl reported a failure: stopping")
            if run != nil {
                ending = .ctrlFailed
                stopCommand(signal: SIGTERM)
            } else {
                throw WrapperExit(status: 0)
            }
        case .userStop:
            if let run, run.termination == nil {
                pendingStopReply = true
                run.child.signal(SIGKILL, group: true)
            } else {
                try channel?.send(SocketMessage(.userStopFinished))
            }
        case .userStart:
            if run == nil {
                if checkpoints == nil { startCheckpoints() }
                startCommand()
            } else {
                restartAfterStop = true
            }
        case .userExecStart:
            // Dial here, in message order: ctrl pairs connections with its requests oldest
            // first, so dialing from the session threads (racing) could swap two sessions.
            let socket: UnixSocket
            do { socket = try UnixSocket.connect(to: options.socketPath) } catch {
                logger.error("exec session '\(message.command)': cannot dial osmo-ctrl: \(error)")
                return
            }
            let session = ExecSession(command: message.command, socket: socket, options: options, logger: logger)
            ThreadStarter.detach { session.run() }
        default:
            logger.warning("ignored unexpected message type \(message.type)")
        }
    }

    /// Invalid checkpoint specs: said in the task's log rather than silently dropped.
    func reportUnsupportedFeatures() throws {
        var notes: [String] = []
        for text in options.checkpoints {
            do { _ = try Checkpoints.Spec(parsing: text) } catch { notes.append("osmo_exec: \(error); ignoring it") }
        }
        for note in notes { logger.warning("\(note)") }
        try channel?.send(notes.map { SocketMessage.ops($0) })
    }

    /// ctrl closed the main connection: after the command ended that is the normal end of the task;
    /// before, ctrl crashed, so the command is stopped and the wrapper fails.
    func ctrlClosed() {
        guard run != nil else { return }
        logger.error("osmo-ctrl closed the connection while the command was running: stopping it")
        ending = .ctrlGone
        stopCommand(signal: SIGTERM)
    }

    // MARK: the command

    func startCommand() {
        guard let program = options.command.first else {
            failStart("no command given (-commands)", status: ExitCode.usage.rawValue)
            return
        }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let executable = program.contains("/") ? program : ExecutableLocation.search(program, path: path)
        guard let executable, FileSystem.exists(executable) else {
            // Go's `exec.Cmd.Start` errors, which the reference wrapper reports.
            let reason = program.contains("/") ? "fork/exec \(program): no such file or directory" : "exec: \"\(program)\": executable file not found in $PATH"
            failStart(reason, status: ExitCode.commandNotFound.rawValue)
            return
        }
        do {
            run = try CommandRun.start(executable: executable, arguments: options.command)
        } catch let error as OsmoError {
            let status = error.errno == ENOENT ? ExitCode.commandNotFound : ExitCode.commandNotExecutable
            failStart("cannot run \(program): \(SystemCall.describe(errno: error.errno ?? EIO))", status: status.rawValue)
        } catch {
            failStart("cannot run \(program): \(error)", status: ExitCode.commandNotExecutable.rawValue)
        }
    }

    func failStart(_ reason: String, status: Int32) {
        logger.error("\(reason)")
        writeStandardError("osmo: \(reason)\n")
        lastTermination = .exited(status)
        // ctrl logs ExecFailed's reason as a stderr line (as the reference does): no second copy.
        try? channel?.send(SocketMessage(.execFailed, messageErr: Self.commandFailed(reason)))
    }

    /// Forwards `signal` to the command's process group, then SIGKILL after the grace period.
    func stopCommand(signal: Int32) {
        guard let run, run.termination == nil else { return }
        run.child.signal(signal, group: true)
        if run.killDeadline == nil {
            run.killDeadline = Clock.now + Double(options.gracePeriodSeconds)
        }
    }

    func handleSignals() {
        for signal in signals.drain() {
            if signal == SIGCHLD {
                reapOrphans()
                continue
            }
            logger.info("received signal \(signal)")
            if ending == nil { ending = .signal(signal) }
            if let run, run.termination == nil { stopCommand(signal: signal) }
        }
    }

    /// Reaps every child that has ended, ours or an orphan reparented to us (PID 1 / subreaper).
    func reapOrphans() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            ExitRegistry.shared.record(pid: pid, ChildProcess.Termination(waitStatus: status))
            if let rsync, rsync.ended(pid: pid, ChildProcess.Termination(waitStatus: status), channel) { continue }
            if let run, pid == run.child.pid {
                run.termination = ChildProcess.Termination(waitStatus: status)
                // Descendants may keep the pipes open: drain them for a short while, no longer.
                run.drainDeadline = Clock.now + 2
            }
        }
    }

    func pumpPipe(_ fd: Int32, run: CommandRun, buffer: inout [UInt8]) throws {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return }
        let isOut = fd == run.stdoutFd
        if n <= 0 {
            try send(lines: run.closePipe(fd), stdout: isOut)
            return
        }
        let lines = buffer.withUnsafeBytes { bytes -> [String] in
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<n])
            // Echo for `kubectl logs`; a closed stdout must not stop the task.
            try? FileSystem.writeAll(isOut ? 1 : 2, chunk, what: "echo")
            return isOut ? run.stdoutLines.feed(chunk) : run.stderrLines.feed(chunk)
        }
        try send(lines: lines, stdout: isOut)
    }

    /// One message per line, in order, as one socket write.
    func send(lines: [String], stdout: Bool) throws {
        try channel?.send(lines.map { stdout ? .out($0) : .err($0) })
    }

    func checkDeadlines() throws {
        rsync?.tick(channel)
        guard let run else { return }
        if let kill = run.killDeadline, Clock.now >= kill, run.termination == nil {
            logger.warning("command did not stop within \(options.gracePeriodSeconds) s: SIGKILL")
            run.child.signal(SIGKILL, group: true)
            run.killDeadline = nil
        }
        if let drain = run.drainDeadline, Clock.now >= drain {
            for fd in run.openPipes {
                try send(lines: run.closePipe(fd), stdout: fd == run.stdoutFd)
            }
        }
    }

    /// When the command has ended and its output is drained: report it to ctrl.
    func finishRunIfDone() throws -> Int32? {
        guard let run, let termination = run.termination, run.openPipes.isEmpty else { return nil }
        self.run = nil
        lastTermination = termination
        makeOutputReadable()
        if !restartAfterStop && !pendingStopReply { finishCheckpoints() }
        if pendingStopReply {
            // Stopped by ctrl for a restart: not the task's end, so no ExecFinished/ExecFailed
            // (the reference keeps its wait group open across the kill in the same way).
            pendingStopReply = false
            try channel?.send(SocketMessage(.userStopFinished))
            if let ending { return exitStatus(for: ending) }
            if restartAfterStop {
                restartAfterStop = false
                startCommand()
            }
            return nil
        }
        switch termination {
        case .exited(0):
            try channel?.send(SocketMessage(.execFinished))
        case .exited(let code):
            try channel?.send(SocketMessage(.execFailed, messageErr: Self.commandFailed("exit status \(code)")))
        case .signaled(let signal):
            try channel?.send(SocketMessage(.execFailed, messageErr: Self.commandFailed("signal: \(Self.goSignalName(signal))")))
        }
        if let ending { return exitStatus(for: ending) }
        if restartAfterStop {
            restartAfterStop = false
            startCommand()
        }
        return nil
    }

    func startCheckpoints() {
        let specs = options.checkpoints.compactMap { try? Checkpoints.Spec(parsing: $0) }
        guard !specs.isEmpty else { return }
        let channel = self.channel
        let logger = self.logger
        checkpoints = Checkpoints(specs: specs) { note in
            logger.info("\(note)")
            try? channel?.send(.ops(note))
        }
        checkpoints?.start()
    }

    /// The last upload of every checkpoint, after the command and before it is reported ended.
    func finishCheckpoints() {
        checkpoints?.finish()
        checkpoints = nil
    }

    /// The reference adds read bits to the output folder so ctrl (another uid) can upload it.
    func makeOutputReadable() {
        guard !outputFolder.isEmpty, let st = FileSystem.status(outputFolder) else { return }
        chmod(outputFolder, (st.st_mode & 0o7777) | 0o444)
    }

    /// `ExecFailed`'s text as the reference wrapper words it (`common.go`: `Command failed with
    /// error: %v\n` around Go's `exit status N` / `signal: killed`); ctrl stores it as a stderr line.
    static func commandFailed(_ reason: String) -> String {
        "Command failed with error: \(reason)\n"
    }

    /// Go's `syscall.Signal.String()` for the common signals, as `exec.ExitError` prints it.
    static func goSignalName(_ signal: Int32) -> String {
        switch signal {
        case SIGKILL: "killed"
        case SIGTERM: "terminated"
        case SIGINT: "interrupt"
        case SIGHUP: "hangup"
        case SIGSEGV: "segmentation fault"
        case SIGABRT: "aborted"
        case SIGPIPE: "broken pipe"
        default: String(cString: strsignal(signal)).lowercased()
        }
    }

    func writeStandardError(_ text: String) {
        try? FileSystem.writeAll(2, text, what: "stderr")
    }
}

/// Thrown to leave the loop with a status.
struct WrapperExit: Error {
    let status: Int32
}
