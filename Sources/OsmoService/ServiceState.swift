import OsmoNet
import OsmoSystem
import Synchronization

/// What the local service remembers: issued tokens, which group each task is in, the actions
/// queued for each task, barrier members, and the last log sequence number stored per task.
final class ServiceState: Sendable {
    struct Stats: Sendable {
        var tokensIssued = 0
        var linesStored = 0
        var duplicatesDropped = 0
        var connections = 0
    }

    let tokens = Mutex([String: Double]())
    let groups = Mutex([String: String]())
    let queues = Mutex([String: ActionQueue]())
    let barriers = Mutex([String: Set<String>]())
    let lastSeq = Mutex([String: SeqCell]())
    let stats = Mutex(Stats())
    /// Tasks whose ctrl has connected at least once (`wf/task`): actions for others are refused,
    /// as the real service refuses tasks that are not running.
    let knownTasks = Mutex(Set<String>())
    /// Group sizes given on the command line (`--group NAME=SIZE`).
    let groupSizes: [String: Int]

    init(groupSizes: [String: Int]) {
        self.groupSizes = groupSizes
    }

    func queue(_ workflow: String, _ task: String) -> ActionQueue {
        queues.withLock { queues in
            let key = "\(workflow)/\(task)"
            if let queue = queues[key] { return queue }
            let queue = ActionQueue()
            queues[key] = queue
            return queue
        }
    }

    /// The task's last stored sequence number, shared by its successive connections.
    func seqCell(_ key: String, initial: () -> Int?) -> SeqCell {
        lastSeq.withLock { cells in
            if let cell = cells[key] { return cell }
            let cell = SeqCell(initial() ?? 0)
            cells[key] = cell
            return cell
        }
    }

    func issueToken(ttl: Double) -> (token: String, expiresAt: Int) {
        let token = "osmo-" + String(UInt64.random(in: .min ... .max), radix: 16) + String(UInt64.random(in: .min ... .max), radix: 16)
        let expiresAt = Double(Clock.wall.seconds) + ttl
        tokens.withLock { tokens in
            let now = Double(Clock.wall.seconds)
            if tokens.count > 10_000 { tokens = tokens.filter { $0.value > now } }
            tokens[token] = expiresAt
        }
        stats.withLock { $0.tokensIssued += 1 }
        return (token, Int(expiresAt))
    }

    func isValid(token: String) -> Bool {
        tokens.withLock { tokens in
            guard let expiry = tokens[token] else { return false }
            return expiry >= Double(Clock.wall.seconds)
        }
    }

    /// Adds `task` to a barrier; returns every member once the group is complete (and resets it,
    /// so a restarted task can meet the same barrier again).
    func join(barrier name: String, workflow: String, task: String, count: Int) -> Set<String>? {
        let group = groups.withLock { $0["\(workflow)/\(task)"] } ?? ""
        let needed = count > 0 ? count : groupSizes[group] ?? 1
        let key = "\(workflow)/\(group)/\(name)"
        return barriers.withLock { barriers in
            barriers[key, default: []].insert(task)
            guard barriers[key]!.count >= needed else { return nil }
            return barriers.removeValue(forKey: key)
        }
    }
}

/// Actions waiting for a task's logger connection (the service's per-task queue).
///
/// The newest connection owns delivery: a ctrl that reconnects often does so before the
/// service has noticed that the old connection is dead, and an action handed to that one is
/// written into a dying socket and lost (the `exec` or `portforward` that then never reaches
/// ctrl). Claiming the queue wakes the old deliverer, which sees it is superseded and ends its
/// connection.
///
/// Concurrency model: every field lives under one `Mutex`; only the owner may wait, so one
/// continuation slot suffices, and each path that changes what a waiter would see (a push, a
/// put-back, a new owner, the waiter's cancellation) takes the waiter out under the lock and
/// resumes it outside it, exactly once.
final class ActionQueue: Sendable {
    private struct State {
        var items: [String] = []
        var owner: UInt64 = 0
        var waiter: (owner: UInt64, continuation: CheckedContinuation<Void, Never>)?
    }
    private let state = Mutex(State())

    /// Makes the caller's connection the one actions go to; returns its ownership token.
    func claim() -> UInt64 {
        let (owner, superseded) = state.withLock { s in
            s.owner += 1
            defer { s.waiter = nil }
            return (s.owner, s.waiter?.continuation)
        }
        superseded?.resume()
        return owner
    }

    func push(_ action: String) {
        state.withLock { $0.items.append(action) }
        wake(nil)
    }

    /// Puts back actions a broken connection could not deliver, ahead of newer ones.
    func putBack(_ actions: [String]) {
        guard !actions.isEmpty else { return }
        state.withLock { $0.items.insert(contentsOf: actions, at: 0) }
        wake(nil)
    }

    /// The actions queued for `owner`, waiting while there are none; nil once a newer
    /// connection owns the queue, or on cancellation.
    func take(_ owner: UInt64) async -> [String]? {
        while !Task.isCancelled {
            let ready = state.withLock { s -> [String]?? in
                guard s.owner == owner else { return .some(nil) }
                guard !s.items.isEmpty else { return nil }
                defer { s.items.removeAll() }
                return .some(s.items)
            }
            if let ready { return ready }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { s -> Bool in
                        if s.owner != owner || !s.items.isEmpty || Task.isCancelled { return true }
                        s.waiter = (owner, continuation)
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                wake(owner)
            }
        }
        return nil
    }

    /// Resumes the waiter (only `owner`'s, when given).
    private func wake(_ owner: UInt64?) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let waiter = s.waiter, owner == nil || waiter.owner == owner else { return nil }
            s.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }
}

/// The highest `Seq` stored for one task.
final class SeqCell: Sendable {
    private let last: Mutex<Int>
    init(_ value: Int) { last = Mutex(value) }

    /// Records `seq`; false when it was stored already (a copy re-sent after a reconnect).
    func accept(_ seq: Int) -> Bool {
        last.withLock { last in
            guard seq > last else { return false }
            last = seq
            return true
        }
    }
}
