import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem

/// A ctrl that cannot start (a bad spec or flag) still tells the wrapper, so the user container
/// ends at once instead of waiting its `-unixTimeout` (two hours) for an `ExecStart` that never
/// comes: listen on the socket, accept the wrapper, send `CtrlFailed` (the wrapper then exits 0
/// and the pod fails with ctrl's code, as with any ctrl failure before the command starts).
public enum EarlyFailure {
    /// Waits up to `waitMinutes` (or SIGTERM) for the wrapper; returns whether it was told.
    @discardableResult
    public static func tellWrapper(socketPath: String, waitMinutes: Int, say: (String) -> Void) -> Bool {
        guard !socketPath.isEmpty, let listener = try? UnixListener(path: socketPath) else { return false }
        let signals = try? SignalChannel([SIGTERM, SIGINT])
        say("Waiting up to \(waitMinutes) minutes for osmo_exec on \(socketPath) to tell it ctrl failed")
        let deadline = Clock.now + Double(waitMinutes) * 60
        while Clock.now < deadline {
            var fds = [pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)]
            if let signals { fds.append(pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)) }
            guard (try? Poll.wait(&fds, timeoutMilliseconds: 1000)) != nil else { return false }
            if fds.count > 1, fds[1].revents != 0, !(signals?.drain().isEmpty ?? true) { return false }
            if fds[0].revents != 0, let socket = try? listener.accept(timeoutMilliseconds: 0) {
                defer { socket.close() }
                return (try? MessageChannel(socket: socket).send(SocketMessage(.ctrlFailed))) != nil
            }
        }
        return false
    }
}
