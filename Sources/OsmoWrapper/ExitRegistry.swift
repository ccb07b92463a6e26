import OsmoSystem

/// How the processes the wrapper reaped ended, so an exec session can learn its shell's status
/// although the wrapper's loop (PID 1, the reaper of everything) collected it.
final class ExitRegistry: @unchecked Sendable {
    static let shared = ExitRegistry()
    private let exits = ConditionLock([Int32: ChildProcess.Termination]())

    func record(pid: Int32, _ termination: ChildProcess.Termination) {
        exits.withLock { exits in
            if exits.count > 4096 { exits.removeAll() }
            exits[pid] = termination
        }
    }

    /// Waits up to `timeout` seconds for `pid` to have been reaped.
    func wait(pid: Int32, timeout: Double) -> ChildProcess.Termination? {
        exits.wait(timeout: timeout) { $0.removeValue(forKey: pid) }
    }
}
