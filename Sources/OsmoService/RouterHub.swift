import NIOCore
import OsmoNet
import Synchronization
import WSCore

/// The router (PROTOCOL.md §7): pairs the backend (`…/backend/{key}`) and client
/// (`…/client/{key}`) websockets of one key and copies BINARY frames between them. Whichever side
/// comes first waits up to the timeout for the other. An empty frame ends one direction and is
/// passed on (so each end can half-close its socket); the pair ends when both directions have
/// ended or either side leaves. TEXT frames pass unchanged where browser websockets travel
/// (the webserver and portforward paths); on exec and rsync sessions, which carry bytes only,
/// one ends the pair. A frame is at most `maxFrameBytes`; a side waiting for its partner is not read
/// (backpressure holds the sender), so an unpaired connection costs at most one frame.
final class RouterHub: Sendable {
    final class Waiting: Sendable {
        let inbound: WebSocketInboundStream
        let outbound: WebSocketOutboundWriter
        let pacer: WebSocketPacer
        /// `outcome`: nil until the partner came (true) or the wait timed out (false);
        /// `released`: the partner is done (it may be before this side began to wait).
        private let state = Mutex<(outcome: Bool?, released: Bool, waiter: CheckedContinuation<Bool, Never>?)>((nil, false, nil))

        init(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, _ pacer: WebSocketPacer) {
            self.inbound = inbound
            self.outbound = outbound
            self.pacer = pacer
        }

        /// The partner claims this side; false if it timed out first.
        func claim() -> Bool {
            state.withLock { s in
                guard s.outcome == nil else { return false }
                s.outcome = true
                return true
            }
        }

        func expire() {
            let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                guard s.outcome == nil else { return nil }
                s.outcome = false
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(returning: false)
        }

        /// The partner is done with this side's connection.
        func release() {
            let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                s.released = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(returning: true)
        }

        /// Suspends until released (true) or expired (false).
        func wait() async -> Bool {
            await withCheckedContinuation { continuation in
                let now = state.withLock { s -> Bool? in
                    if s.outcome == false { return false }
                    // A session that was over before this side began to wait: no waiter would
                    // ever be resumed (the leak Swift reports as continuation misuse).
                    if s.released { return true }
                    s.waiter = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        }
    }

    private let waiting = Mutex([String: Waiting]())
    let timeoutSeconds: Double
    let sessions = Counter()

    init(timeoutSeconds: Double) {
        self.timeoutSeconds = timeoutSeconds
    }

    /// Runs one side of `key` until the pair is over. Returns false when no partner came.
    func join(key: String, allowText: Bool, _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, _ pacer: WebSocketPacer) async -> Bool {
        let me = Waiting(inbound, outbound, pacer)
        let partner = waiting.withLock { waiting -> Waiting? in
            if let partner = waiting.removeValue(forKey: key), partner.claim() { return partner }
            return nil
        }
        if let partner {
            sessions.add(1)
            await RouterHub.copy(me, partner, allowText: allowText)
            partner.release()
            return true
        }
        waiting.withLock { $0[key] = me }
        let timeout = Task {
            try? await Task.sleep(for: .seconds(timeoutSeconds))
            me.expire()
        }
        let paired = await me.wait()
        timeout.cancel()
        if !paired {
            waiting.withLock { waiting in
                if waiting[key] === me { waiting.removeValue(forKey: key) }
            }
            try? await outbound.close(.init(codeNumber: 4000), reason: "Router connection timeout")
        }
        return paired
    }

    /// Both directions until both ended (empty frames) or one side left.
    static let maxFrameBytes = 1 << 22
    /// How long a side that is being closed has to answer the close.
    static let closeWait: Duration = .seconds(30)

    /// When one side leaves, the other is closed after everything already copied to it, and the
    /// pair ends once it has answered the close (its reader then ends by itself). Readers are
    /// never cancelled while the close handshake still needs them: a cancelled read ends that
    /// websocket's inbound stream, WSCore then stops waiting for the peer's close and closes the
    /// channel with the last frames still queued (the tail of a short command's output).
    static func copy(_ a: Waiting, _ b: Waiting, allowText: Bool) async {
        enum End { case halfClosed, left(Waiting), closeTimedOut }
        await withTaskGroup(of: End.self) { group in
            group.addTask { await direction(a.inbound, b.outbound, b.pacer, allowText: allowText) ? .halfClosed : .left(b) }
            group.addTask { await direction(b.inbound, a.outbound, a.pacer, allowText: allowText) ? .halfClosed : .left(a) }
            var closing = 0
            while let end = await group.next() {
                switch end {
                case .halfClosed: continue
                case .left(let other):
                    // One reader ended: its source left. Close the other side; when it answers,
                    // its own reader ends too.
                    try? await other.outbound.close(.normalClosure, reason: nil)
                    closing += 1
                    if closing == 1 {
                        group.addTask {
                            try? await Task.sleep(for: closeWait)
                            return .closeTimedOut
                        }
                    } else {
                        group.cancelAll()
                    }
                case .closeTimedOut:
                    group.cancelAll()
                }
                if closing == 2 { break }
            }
        }
    }

    /// true when the direction ended with an empty frame (the other may go on), false when the
    /// source left or broke the protocol.
    /// Each write is taken by the receiving connection's event loop before the next frame is
    /// read (`WebSocketPacer`): a fast sender cannot queue a stream in the service's memory.
    private static func direction(_ from: WebSocketInboundStream, _ to: WebSocketOutboundWriter, _ pacer: WebSocketPacer, allowText: Bool) async -> Bool {
        do {
            for try await message in from.messages(maxSize: maxFrameBytes) {
                switch message {
                case .binary(let buffer):
                    try await to.write(.binary(buffer))
                    await pacer.settle()
                    if buffer.readableBytes == 0 { return true }
                case .text(let text):
                    // A webserver's websocket carries TEXT and keeps it (the real router's
                    // copy_websocket for browser sessions); byte sessions never may.
                    guard allowText else { return false }
                    try await to.write(.text(text))
                    await pacer.settle()
                }
            }
        } catch {}
        return false
    }
}

