import OsmoSystem

/// Emits progress lines while a transfer runs: on a terminal, a line redrawn in place a few
/// times a second; otherwise (ctrl's log, CI), a line at every 10% or every 30 s, whichever
/// comes first, in the reference's shape.
public final class ProgressReporter: Sendable {
    private let stopped = ConditionLock(false)
    private let finished = ConditionLock(false)

    public init(_ progress: TransferProgress, live: Bool, label: String, emit: @escaping @Sendable (String) -> Void) {
        ThreadStarter.detach { [stopped, finished] in
            var lastDecile = -1
            var lastTime = Clock.now
            while stopped.wait(timeout: live ? 0.2 : 1, until: { $0 ? true : nil }) == nil {
                let counters = progress.snapshot
                if live {
                    emit("\r\(label) \(progress.line())\u{1B}[K")
                    continue
                }
                let total = max(counters.totalBytes, 1)
                let decile = Int(counters.bytes * 10 / total)
                if decile > lastDecile && counters.bytes > 0 || Clock.now - lastTime >= 30 {
                    lastDecile = max(decile, lastDecile)
                    lastTime = Clock.now
                    emit("\(label) \(progress.line())")
                }
            }
            if live { emit("\r\(label) \(progress.line())\u{1B}[K\n") }
            finished.withLock { $0 = true }
        }
    }

    /// Stops and waits for the final line.
    public func stop() {
        stopped.withLock { $0 = true }
        _ = finished.wait { $0 ? true : nil }
    }
}
