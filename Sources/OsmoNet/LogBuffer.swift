import OsmoSystem
import Synchronization

/// The frames on their way to the service: bounded, oldest dropped first, and kept until the
/// service has acknowledged them.
///
/// The reference protocol has no acknowledgement, but the service answers every `LOG_DONE` in
/// order after storing what came before it. ctrl sends one after each batch and forgets a
/// batch's frames only when its `log_done` comes back; frames sent on a connection that broke
/// before that are sent again on the next one. So nothing below the buffer size is lost when the
/// service goes away: at most, a few lines it had stored are repeated (our local service drops
/// them by their `Seq`).
public final class LogBuffer: Sendable {
    struct State {
        var frames: [String] = []
        /// Index in `frames` of the oldest frame still held (a moving head, compacted now and then).
        var head = 0
        /// How many held frames have been written on the current connection.
        var sent = 0
        /// For each `LOG_DONE` sent and not yet answered: how many frames it covers.
        var markers: [Int] = []
        var dropped = 0
        var nextSeq: UInt64 = 0
        var held: Int { frames.count - head }

        /// Drops the forgotten frames in front once they are most of the array.
        mutating func compact() {
            if head > 4096 && head * 2 > frames.count {
                frames.removeFirst(head)
                head = 0
            }
        }
    }

    public let capacity: Int
    private let state = Mutex(State())
    private let warning: @Sendable (Int) -> String
    public let doorbell = Doorbell()
    /// Counts acknowledgements; waiting for it to change is waiting for the next one.
    let acknowledgements = ConditionLock(0)

    /// Waits up to `timeout` seconds for the next acknowledgement.
    func waitForAcknowledgement(timeout: Double) {
        let seen = acknowledgements.withLock { $0 }
        _ = acknowledgements.wait(timeout: timeout) { $0 != seen ? true : nil }
    }

    /// `warning(n)` makes the frame that reports `n` dropped lines.
    public init(capacity: Int, warning: @escaping @Sendable (Int) -> String) {
        self.capacity = max(1, capacity)
        self.warning = warning
    }

    /// Adds a log frame whose sequence number is given here, under the lock, so numbers follow
    /// the buffer's order whichever thread produced the line. `quotedPrefix` is
    /// `ServiceFrames.logPrefix(…)`.
    /// Only the command's own lines may wait for room (`mayWait`): ctrl's lines are also written
    /// from the link's tasks, which must never block on the link.
    public func appendSequenced(_ quotedPrefix: String, mayWait: Bool = false) {
        append(mayWait: mayWait) { seq in quotedPrefix + ",\\\"Seq\\\":\(seq)}\"\n" }
    }

    /// Adds a complete frame.
    public func append(_ frame: String) {
        append(mayWait: false) { _ in frame }
    }

    /// Set while the link is connected: a full buffer then makes producers wait (up to
    /// `maxWaitSeconds` per line) for the service to acknowledge, instead of dropping lines. A
    /// slow service slows the log's producer down (the wrapper, then the command's writes); only
    /// a service that is away, or stalled longer than that, costs lines.
    public let waitWhenFull = Atomic(false)
    public let maxWaitSeconds = 2.0

    private func append(mayWait: Bool, _ make: (UInt64) -> String) {
        if mayWait, waitWhenFull.load(ordering: .relaxed), state.withLock({ $0.held >= capacity }) {
            let deadline = Clock.now + maxWaitSeconds
            while waitWhenFull.load(ordering: .relaxed), state.withLock({ $0.held >= capacity }) {
                let left = deadline - Clock.now
                if left <= 0 { break }
                waitForAcknowledgement(timeout: min(left, 0.05))
            }
        }
        state.withLock { s in
            s.nextSeq += 1
            let frame = make(s.nextSeq)
            if s.held >= capacity {
                s.head += 1
                if s.sent > 0 { s.sent -= 1 }
                // The markers count frames from the head: the dropped one no longer needs covering.
                if !s.markers.isEmpty { s.markers = s.markers.map { max(0, $0 - 1) } }
                s.dropped += 1
                s.compact()
            }
            s.frames.append(frame)
        }
        doorbell.ring()
    }

    /// Up to `limit` frames not yet written on this connection. A pending drop warning is
    /// placed first (and held like any frame).
    func nextBatch(limit: Int) -> [String] {
        state.withLock { s in
            if s.dropped > 0 {
                s.frames.insert(warning(s.dropped), at: s.head + s.sent)
                s.dropped = 0
            }
            let start = s.head + s.sent
            let end = min(s.frames.count, start + limit)
            return Array(s.frames[start..<end])
        }
    }

    /// `count` frames of the last batch were written, followed by a `LOG_DONE` when `marked`.
    func wrote(_ count: Int, marked: Bool) {
        state.withLock { s in
            s.sent += count
            if marked { s.markers.append(s.sent) }
        }
    }

    /// The service answered the oldest outstanding `LOG_DONE`: its frames are stored.
    func acknowledge() {
        state.withLock { s in
            guard !s.markers.isEmpty else { return }
            let covered = min(s.markers.removeFirst(), s.held)
            s.head += covered
            s.sent -= covered
            s.markers = s.markers.map { $0 - covered }
            s.compact()
        }
        acknowledgements.withLock { $0 += 1 }
    }

    /// A new connection: everything not acknowledged goes again.
    func rewind() {
        state.withLock { s in
            s.sent = 0
            s.markers.removeAll()
        }
    }

    /// Frames written and awaiting an answer, or not written yet.
    public var held: Int { state.withLock { $0.held } }
}
