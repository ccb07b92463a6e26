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

    /// SIGKILLs every remaining child of this process, with its process group, and reaps them
    /// all: what the end of a container does to whatever is left in it. With `becomeSubreaper`,
    /// "children" includes orphans of children that were killed (a command's own process group
    /// whose wrapper died). Reads `/proc`; without it, only what `waitpid` already holds is reaped.
    public static func killRemainingChildren() {
        let me = getpid(), myGroup = getpgrp()
        for _ in 0..<100 {
            let children = childProcesses(of: me)
            if children.isEmpty { break }
            for (pid, group) in children {
                if group > 1 && group != myGroup { kill(-group, SIGKILL) }
                kill(pid, SIGKILL)
            }
            var status: Int32 = 0
            while waitpid(-1, &status, WNOHANG) > 0 {}
            usleep(5_000)
        }
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
    }

    /// (pid, process group) of every process whose parent is `parent`, from `/proc/*/stat`.
    static func childProcesses(of parent: pid_t) -> [(pid_t, pid_t)] {
        guard let names = try? FileSystem.contents(of: "/proc") else { return [] }
        var found: [(pid_t, pid_t)] = []
        for name in names {
            guard let pid = pid_t(name), let bytes = try? FileSystem.readFile("/proc/\(name)/stat") else { continue }
            // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
            guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { continue }
            let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
            guard fields.count > 2,
                  let ppid = pid_t(String(decoding: fields[1], as: UTF8.self)),
                  let group = pid_t(String(decoding: fields[2], as: UTF8.self)), ppid == parent else { continue }
            found.append((pid, group))
        }
        return found
    }

    /// A close-on-exec pipe: (read end, write end).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try SystemCall.retrying("pipe") { osmo_pipe_cloexec(&fds) }
        return (fds[0], fds[1])
    }
}
