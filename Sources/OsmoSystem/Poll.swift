import Glibc
import OsmoCore

/// `poll(2)` helpers.
public enum Poll {
    /// Waits for `events` on one descriptor; false on timeout.
    public static func wait(_ fd: Int32, events: Int16, timeoutMilliseconds: Int32) throws -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        let n = try SystemCall.retrying("poll") { poll(&entry, 1, timeoutMilliseconds) }
        return n > 0
    }

    /// Polls a set of descriptors; returns the `revents` per entry (EINTR = nothing ready).
    public static func wait(_ entries: inout [pollfd], timeoutMilliseconds: Int32) throws {
        for i in entries.indices { entries[i].revents = 0 }
        let n = poll(&entries, nfds_t(entries.count), timeoutMilliseconds)
        if n < 0 && errno != EINTR {
            throw OsmoError(.io, "poll: \(SystemCall.describe(errno: errno))", cause: Errno(errno))
        }
    }
}
