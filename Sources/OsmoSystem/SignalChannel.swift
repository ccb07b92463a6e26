import COsmoSys
import Glibc
import OsmoCore

/// Signals delivered as readable events on a file descriptor (`signalfd`), so a role's poll loop
/// handles them like any other input instead of in an async-signal handler.
public final class SignalChannel: @unchecked Sendable {
    public let fd: Int32

    /// Blocks `signals` in the calling thread and opens a signalfd for them. Create it on the main
    /// thread before starting other threads so none of them receives these signals directly.
    public init(_ signals: [Int32]) throws {
        let fd = signals.withUnsafeBufferPointer { osmo_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else {
            throw OsmoError(.io, "signalfd: \(SystemCall.describe(errno: errno))", cause: Errno(errno))
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// The pending signals (empty when none is queued).
    public func drain() -> [Int32] {
        var result: [Int32] = []
        while true {
            let signal = osmo_signalfd_read(fd)
            if signal < 0 { return result }
            result.append(signal)
        }
    }

    /// Ignores SIGPIPE process-wide: a peer that goes away must give EPIPE, not kill us.
    public static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }
}
