import Glibc
import OsmoCore
import OsmoData
import OsmoProtocol
import OsmoSystem

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
    }

    let options: CtrlOptions
    let sink: any LogSink
    let termination: TerminationLog
    let signals: SignalChannel
    var channel: MessageChannel?
    var commandStarted = false
    var terminating = false

    public init(options: CtrlOptions, sink: any LogSink, termination: TerminationLog = TerminationLog()) throws {
        self.options = options
        self.sink = sink
        self.termination = termination
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
            log("ERROR: \(failure.message)")
            if !commandStarted, let channel { try? channel.send(SocketMessage(.ctrlFailed)) }
            sink.flush()
            termination.write(failure.code)
            return failure.code.rawValue
        } catch {
            log("ERROR: \(error)")
            if !commandStarted, let channel { try? channel.send(SocketMessage(.ctrlFailed)) }
            sink.flush()
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
        let socket = try acceptWrapper(listener)
        channel = MessageChannel(socket: socket)
        log("Client connected [unix]")
        try checkAccess()
        try downloadInputs()
        if !options.barrier.isEmpty {
            log("Barrier \(options.barrier): no service connection, continuing without synchronisation")
        }
        do { try channel!.send(SocketMessage(.execStart, outputFolder: options.outputPath)) } catch {
            throw Failure(code: .unixMessageFailed, message: "cannot send ExecStart to osmo_exec: \(error)")
        }
        commandStarted = true
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
        try uploadOutputs()
        sink.flush()
        socket.close()
        return outcome
    }

    /// Waits for osmo_exec's main connection within `-unixTimeout`, watching for SIGTERM.
    private func acceptWrapper(_ listener: UnixListener) throws -> UnixSocket {
        let deadline = Clock.now + Double(options.unixTimeoutMinutes) * 60
        while true {
            let left = deadline - Clock.now
            guard left > 0 else {
                throw Failure(code: .unixMessageFailed, message: "osmo_exec did not connect to \(options.socketPath) within \(options.unixTimeoutMinutes) minutes")
            }
            var fds = [pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
            try Poll.wait(&fds, timeoutMilliseconds: Int32(min(left * 1000, 60_000)))
            if fds[1].revents != 0, !signals.drain().isEmpty {
                throw Failure(code: .misc, message: "terminated while waiting for osmo_exec to connect")
            }
            if fds[0].revents != 0, let socket = try listener.accept(timeoutMilliseconds: 0) { return socket }
        }
    }

    func log(_ text: String, _ kind: LogRecord.Kind = .ctrl) {
        sink.emit(LogRecord(source: options.logSource, text: text, kind: kind))
    }
}
