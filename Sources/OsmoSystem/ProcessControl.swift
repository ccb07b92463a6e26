import COsmoSys
import Glibc
import OsmoCore

/// Process-wide controls the roles need.
public enum ProcessControl {
    /// Become a child subreaper: orphaned descendants are reparented to us so we can reap them
    /// (what PID 1 gets for free). Does nothing useful when already PID 1.
    @discardableResult
    public static func becomeSubreaper() -> Bool {
        getpid() == 1 || osmo_set_child_subreaper() == 0
    }

    /// A close-on-exec pipe: (read end, write end).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try SystemCall.retrying("pipe") { osmo_pipe_cloexec(&fds) }
        return (fds[0], fds[1])
    }
}
