import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem

extension Controller {
    enum RelayEnd { case finished, vanished, terminated }

    /// Relays the wrapper's messages into the log until the command ends, the wrapper goes away,
    /// or (after SIGTERM) the grace period runs out. Garbage and oversize input is reported, never
    /// fatal.
    func relay(_ socket: UnixSocket) -> RelayEnd {
        var stream = MessageStream()
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var graceDeadline: Double?
        while true {
            var timeout: Int32 = -1
            if let graceDeadline {
                let left = graceDeadline - Clock.now
                if left <= 0 { return .terminated }
                timeout = Int32(left * 1000) + 1
            }
            var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
            do { try Poll.wait(&fds, timeoutMilliseconds: timeout) } catch { return .vanished }
            if fds[1].revents != 0, !signals.drain().isEmpty, graceDeadline == nil {
                terminating = true
                graceDeadline = Clock.now + options.terminationGraceSeconds
                log("SIGTERM received: waiting up to \(Int(options.terminationGraceSeconds)) s for the command to end, then uploading outputs")
                sink.flush()
            }
            guard fds[0].revents != 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { (try? socket.read(into: $0)) ?? 0 }
            if n <= 0 {
                if stream.pendingBytes > 0 { log("osmo_exec sent \(stream.pendingBytes) bytes of an unfinished message before closing") }
                sink.flush()
                return .vanished
            }
            let events = buffer.withUnsafeBytes { stream.feed(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            for event in events {
                if let end = handle(event) {
                    sink.flush()
                    return end
                }
            }
            sink.flush()
        }
    }

    private func handle(_ event: MessageStream.Event) -> RelayEnd? {
        switch event {
        case .message(let message):
            switch message.type {
            case .messageOut: log(message.messageOut, .stdout)
            case .messageErr: log(message.messageErr, .stderr)
            case .messageOps: log(message.messageOps)
            case .execFinished: return .finished
            case .execFailed:
                if !message.messageErr.isEmpty { log(message.messageErr, .stderr) }
                return .finished
            case .userStopFinished: service?.stopFinished()
            case .userRsyncStatus: service?.rsyncStatus(message.rsyncRunning)
            default: log("ignoring unexpected \(message.type) message from osmo_exec")
            }
        case .garbage(let bytes): log("ignoring \(bytes) bytes of garbage from osmo_exec")
        case .oversize(let bytes): log("ignoring an oversize message (\(bytes) bytes) from osmo_exec")
        case .invalid(let reason): log("ignoring an invalid message from osmo_exec: \(reason)")
        }
        return nil
    }
}
