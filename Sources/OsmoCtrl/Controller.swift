import Glibc
import OsmoCore
import OsmoData
import OsmoProtocol
import OsmoSystem
import OsmoTransfer

/// osmo-ctrl's main sequence (PROTOCOL.md §3): accept the wrapper, check access, download the
/// inputs, start the command, relay its output, upload the outputs (also after a failure), finish.
/// Every failure path writes its code to the termination log before returning it.
/// (Sendable by discipline: after start-up only the log sink, itself thread-safe, is shared with
/// the download threads.)
public final class Controller: @unchecked Sendable {
    /// A failure with the code the platform should see.
    struct Failure: Error {
        let code: ExitCode
        let message: String
        /// The phase's IOType for the `ERROR:` line (a failed download is a DOWNLOAD line).
        var kind: LogRecord.Kind = .ctrl
    }

    let options: CtrlOptions
    let sink: any LogSink
    let termination: TerminationLog
    let signals: SignalChannel
    var channel: MessageChannel?
    var commandStarted = false
    var terminating = false

    /// The OSMO service connection, when ctrl has one.
    let service: ServiceSession?

    public init(options: CtrlOptions, sink localSink: any LogSink, termination: TerminationLog = TerminationLog()) throws {
        self.options = options
        self.termination = termination
        if let serviceOptions = options.service {
            let relay = SinkRelay()
            let source = options.logSource
            let service = ServiceSession(options: options, service: serviceOptions, log: { text in
                relay.sink?.emit(LogRecord(source: source, text: text, kind: .ctrl))
            }, note: { text in
                relay.sink?.emit(LogRecord(source: source, text: text, kind: .ctrl, reach: .local))
            }, fatal: { code, message in
                relay.sink?.emit(LogRecord(source: source, text: "ERROR: \(message)", kind: .ctrl))
                relay.sink?.drain(timeout: 5)
                termination.write(code)
                exit(code.rawValue)
            })
            self.service = service
            self.sink = LogFanOut([localSink, service.sink])
            relay.sink = self.sink
        } else {
            service = nil
            self.sink = localSink
        }
        signals = try SignalChannel([SIGTERM, SIGINT])
        SignalChannel.ignoreBrokenPipe()
    }

    /// Runs everything; returns ctrl's exit status.
    public func run() -> Int32 {
        do {
            let outcome = try sequence()
            sink.flush()
            if outcome.wrapperVanished {
                termination.write(.unixMessageFailed)
                return ExitCode.unixMessageFailed.rawValue
            }
            if outcome.terminated {
                termination.write(.misc)
                return ExitCode.status(signal: SIGTERM)
            }
            return 0
        } catch let failure as Failure {
            log("ERROR: \(failure.message)", failure.kind)
            if !commandStarted, let channel { try? channel.send(SocketMessage(.ctrlFailed)) }
            sink.flush()
            finishService(terminated: true)
            termination.write(failure.code)
            return failure.code.rawValue
        } catch {
            log("ERROR: \(error)")
            if !commandStarted, let channel { try? channel.send(SocketMessage(.ctrlFailed)) }
            sink.flush()
            finishService(terminated: true)
            termination.write(.misc)
            return ExitCode.misc.rawValue
        }
    }

    struct Outcome {
        var wrapperVanished = false
        var terminated = false
    }

    private func sequence() throws -> Outcome {
        let listener: UnixListener
        do { listener = try UnixListener(path: options.socketPath) } catch {
            throw Failure(code: .unixMessageFailed, message: "cannot listen on \(options.socketPath): \(error)")
        }
        if service != nil, !ServiceTLS.verify { note(ServiceTLS.warning) }
        service?.connect()
        let socket = try acceptWrapper(listener)
        channel = MessageChannel(socket: socket)
        note("Client connected [unix]")
        service?.serveSessions(channel: channel!, listener: listener)
        try checkAccess()
        let downloadStart = Clock.epochSeconds
        try downloadInputs()
        if let service {
            // The reference sends both group metrics whatever the task moved.
            service.groupMetric("input_download", start: downloadStart, end: Clock.epochSeconds)
            if !options.barrier.isEmpty {
                guard service.waitForBarrier(options.barrier, interrupted: { !signals.drain().isEmpty }) else {
                    throw Failure(code: .misc, message: "terminated while waiting for barrier \(options.barrier)")
                }
            }
            // Inputs may land while the service still says PENDING (ours); the command starts
            // only once it accepted the task, as in the reference, so no output is lost.
            guard service.waitUntilAccepted(interrupted: { !signals.drain().isEmpty }) else {
                throw Failure(code: .misc, message: "terminated while waiting for the service to accept the task (RUNNING)")
            }
        } else if !options.barrier.isEmpty {
            note("Barrier \(options.barrier): no service connection, continuing without synchronisation")
        }
        // The reference appends the `/` (`ctrl_args.go`); user code reads the folder from it.
        let outputFolder = options.outputPath.hasSuffix("/") ? options.outputPath : options.outputPath + "/"
        do { try channel!.send(SocketMessage(.execStart, outputFolder: outputFolder)) } catch {
            throw Failure(code: .unixMessageFailed, message: "cannot send ExecStart to osmo_exec: \(error)")
        }
        commandStarted = true
        service?.commandStarted(true)
        var outcome = Outcome()
        switch relay(socket) {
        case .finished: break
        case .vanished:
            log("osmo_exec closed the connection without reporting the command's end (the user container stopped or crashed); uploading what exists")
            outcome.wrapperVanished = true
        case .terminated:
            log("Terminated before the command ended; uploading what exists")
            outcome.terminated = true
        }
        service?.commandStarted(false)
        let uploadStart = Clock.epochSeconds
        try uploadOutputs()
        service?.groupMetric("output_upload", start: uploadStart, end: Clock.epochSeconds)
        sink.flush()
        finishService(terminated: outcome.terminated)
        socket.close()
        return outcome
    }

    /// Waits for osmo_exec's main connection within `-unixTimeout`, watching for SIGTERM, and
    /// says every `waitNoticeSeconds` that it still waits and where (the user container's
    /// entrypoint may never have started: `kubectl logs` of ctrl must explain the hang).
    private func acceptWrapper(_ listener: UnixListener) throws -> UnixSocket {
        let start = Clock.now
        let deadline = start + Double(options.unixTimeoutMinutes) * 60
        var nextNotice = start + options.waitNoticeSeconds
        while true {
            let now = Clock.now
            let left = deadline - now
            guard left > 0 else {
                throw Failure(code: .unixMessageFailed, message: "osmo_exec did not connect to \(options.socketPath) within \(options.unixTimeoutMinutes) minutes")
            }
            if now >= nextNotice {
                note("Still waiting for osmo_exec to connect on \(options.socketPath) (\(Int(now - start)) s so far, giving up after \(options.unixTimeoutMinutes) min); if the user container's entrypoint failed to start, its own log says why")
                nextNotice = now + options.waitNoticeSeconds
            }
            let wait = min(left, max(nextNotice - now, 0.001), 60)
            var fds = [pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
            try Poll.wait(&fds, timeoutMilliseconds: Int32((wait * 1000).rounded(.up)))
            if fds[1].revents != 0, !signals.drain().isEmpty {
                throw Failure(code: .misc, message: "terminated while waiting for osmo_exec to connect")
            }
            if fds[0].revents != 0, let socket = try listener.accept(timeoutMilliseconds: 0) { return socket }
        }
    }

    /// The `LOG_DONE` handshake: every line acknowledged by the service before ctrl exits (after
    /// SIGTERM, within what is left of the pod's grace period).
    func finishService(terminated: Bool) {
        guard let service, let serviceOptions = options.service else { return }
        let limit = terminated ? min(serviceOptions.flushSeconds, 8) : serviceOptions.flushSeconds
        if !service.finish(timeout: limit) {
            let line = "Could not deliver \(service.buffer.held) log lines to the service within \(Int(limit)) s"
            localLog(line)
        }
    }

    /// A line for stdout and the log file only (the service is gone).
    func localLog(_ text: String) {
        note(text)
        sink.flush()
    }

    /// A line for ctrl's own output and log file, not the service (`LogRecord.Reach`).
    func note(_ text: String, _ kind: LogRecord.Kind = .ctrl) {
        sink.emit(LogRecord(source: options.logSource, text: text, kind: kind, reach: .local))
    }

    func log(_ text: String, _ kind: LogRecord.Kind = .ctrl) {
        sink.emit(LogRecord(source: options.logSource, text: text, kind: kind))
    }
}

/// Lets callbacks created before the controller's sink exists write to it.
final class SinkRelay: @unchecked Sendable {
    var sink: (any LogSink)?
}
