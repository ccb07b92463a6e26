import Glibc
import OsmoCore
import OsmoTransfer
import OsmoSystem
import Synchronization
import WSClient

/// ctrl's logger websocket (PROTOCOL.md §6): sends the buffered frames, receives actions, and
/// reconnects with the reference's jittered backoff until the `-timeout` budget is spent.
///
/// Producers only append to the `LogBuffer` (no network I/O under any lock); one writer task
/// sends everything that is there in batches, each followed by a `LOG_DONE` whose answer
/// acknowledges it. Actions are handed to `onAction` on the reader task and must not block.
public final class ServiceLink: Sendable {
    public struct Settings: Sendable {
        /// `{ws|wss}://host:port/api/logger/workflow/{wf}/osmo_ctrl/{task}/retry_id/{retry}`
        public var url: String
        /// How long the service may stay unreachable before ctrl gives up (code 21).
        public var budgetSeconds: Double
        /// How long a batch may take to write before the connection is declared dead.
        public var writeTimeoutSeconds = 30.0
        public var pingSeconds = 30.0
        public var handshakeSeconds = 30.0
        public var batch = 1024

        public init(url: String, budgetSeconds: Double) {
            self.url = url
            self.budgetSeconds = budgetSeconds
        }
    }

    /// What the link reports to its owner.
    public enum Event: Sendable {
        /// A line for ctrl's own log (connection state).
        case note(String)
        /// Connected again after `tries` failed attempts (the reference tells the service
        /// `Websocket Connection: N`).
        case reconnected(tries: Int)
        /// The link gave up: write `code` to the termination log and exit.
        case fatal(ExitCode, String)
    }

    public let settings: Settings
    public let buffer: LogBuffer
    let tokens: TokenSource
    let logDoneFrame: @Sendable () -> String
    let onAction: @Sendable (ServiceAction) -> Void
    let onEvent: @Sendable (Event) -> Void
    let stopped = Flag()
    let connected = Atomic(false)
    /// Seconds (monotonic) since the link has been without a connection; 0 while connected.
    let downSince = Mutex(Clock.now)
    /// When the batch being written started (the write deadline's clock).
    let writing = Mutex<Double?>(nil)
    /// Connections made so far (1 = the first); waited on before the command starts.
    private let connections = ConditionLock(0)

    public init(
        settings: Settings, buffer: LogBuffer, tokens: TokenSource, logDoneFrame: @escaping @Sendable () -> String,
        onAction: @escaping @Sendable (ServiceAction) -> Void, onEvent: @escaping @Sendable (Event) -> Void
    ) {
        self.settings = settings
        self.buffer = buffer
        self.tokens = tokens
        self.logDoneFrame = logDoneFrame
        self.onAction = onAction
        self.onEvent = onEvent
    }

    public func start() {
        Task.detached { await self.run() }
    }

    /// Blocks until every frame was acknowledged by the service, or `timeout` seconds passed.
    /// Returns whether everything arrived.
    public func flush(timeout: Double) -> Bool {
        buffer.doorbell.ring()
        let deadline = Clock.now + timeout
        while true {
            if buffer.held == 0 { return true }
            let left = deadline - Clock.now
            if left <= 0 || stopped.isSet { return buffer.held == 0 }
            buffer.waitForAcknowledgement(timeout: min(left, 0.5))
        }
    }

    /// Blocks until the link has been up once (the token refresh answered RUNNING and the
    /// websocket opened), `timeout` passed, or the link stopped. Returns whether it has.
    public func waitUntilConnected(timeout: Double) -> Bool {
        connections.wait(timeout: timeout) { $0 > 0 ? true : nil } ?? false
    }

    /// Stops reconnecting (the connection in use is closed).
    public func stop() {
        stopped.set()
        buffer.doorbell.ring()
    }

    // MARK: the connection loop

    func run() async {
        var attempt = 0
        var lastNote = ""
        while !stopped.isSet {
            var failure = ""
            do {
                let header = try await tokens.header()
                var target = WebSocketTarget(
                    url: settings.url, headers: [header], handshakeTimeout: .seconds(settings.handshakeSeconds),
                    pingEvery: .seconds(settings.pingSeconds), verifyPeer: ServiceTLS.verify
                )
                target.closeTimeout = .seconds(5)
                let tries = attempt
                try await WebSocketDial.connect(target) { inbound, outbound, _ in
                    try await self.serve(inbound, outbound, afterTries: tries)
                }
                failure = "the service closed the connection"
            } catch let error as TokenSource.Failure {
                switch error {
                case .unreadable(let reason):
                    onEvent(.fatal(.tokenInvalid, reason))
                    return
                case .finished:
                    onEvent(.note("The service reports this task has finished: no more logs are sent to it"))
                    stopped.set()
                    return
                default: failure = "\(error)"
                }
            } catch let error as WebSocketDial.Failure {
                if case .refused = error { tokens.invalidate() }
                failure = "\(error)"
            } catch {
                failure = "\(error)"
            }
            if let hint = ServiceTLS.hint(for: failure) { failure += " (\(hint))" }
            if stopped.isSet {
                connected.store(false, ordering: .relaxed)
                return
            }
            if connected.exchange(false, ordering: .relaxed) {
                downSince.withLock { $0 = Clock.now }
                attempt = 0
                onEvent(.note("Connection to the service lost (\(failure)): reconnecting, logs are buffered"))
            }
            buffer.rewind()
            if stopped.isSet { return }
            let down = Clock.now - downSince.withLock { $0 }
            if down > settings.budgetSeconds {
                onEvent(.fatal(.websocketTimeout, "cannot reach the service at \(settings.url) for \(Int(down)) s: \(failure)"))
                return
            }
            attempt += 1
            if failure != lastNote || attempt % 60 == 1 {
                let left = Int(settings.budgetSeconds - down)
                onEvent(.note(failure.contains("RUNNING") ? "Waiting for task status to update to RUNNING." : "Failed to connect to the service (\(failure)); \(left) s left before giving up"))
                lastNote = failure
            }
            // Never sleep past the budget: running out is reported when it happens.
            try? await Task.sleep(for: .seconds(min(ServiceLink.backoff(attempt), settings.budgetSeconds - down + 0.05)))
        }
    }

    /// The reference's jittered exponential backoff: try n waits uniformly in
    /// [2^min(n,5)/2, 2^min(n,5)) seconds.
    public static func backoff(_ attempt: Int) -> Double {
        let ceiling = Double(1 << min(max(attempt, 1), 5))
        return Double.random(in: (ceiling / 2)..<ceiling)
    }

    private func serve(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, afterTries tries: Int) async throws {
        connected.store(true, ordering: .relaxed)
        buffer.waitWhenFull.store(true, ordering: .relaxed)
        defer { buffer.waitWhenFull.store(false, ordering: .relaxed) }
        let count = connections.withLock { n in n += 1; return n }
        onEvent(.note(count == 1 ? "Connected to the service" : "Reconnected to the service after \(tries) tries; sending \(buffer.held) buffered lines"))
        if count > 1 { onEvent(.reconnected(tries: tries)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.write(outbound) }
            group.addTask { try await self.read(inbound) }
            group.addTask {
                // Write deadline: a batch stuck longer than this means the peer is gone.
                while true {
                    try await Task.sleep(for: .seconds(1))
                    if let started = self.writing.withLock({ $0 }), Clock.now - started > self.settings.writeTimeoutSeconds {
                        throw LinkError.writeTimeout(self.settings.writeTimeoutSeconds)
                    }
                    if self.stopped.isSet { throw LinkError.stopped }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    enum LinkError: Error, CustomStringConvertible {
        case writeTimeout(Double), stopped, closed
        var description: String {
            switch self {
            case .writeTimeout(let seconds): "a write took more than \(Int(seconds)) s"
            case .stopped: "stopped"
            case .closed: "the service closed the connection"
            }
        }
    }

    private func write(_ outbound: WebSocketOutboundWriter) async throws {
        while !stopped.isSet {
            let batch = buffer.nextBatch(limit: settings.batch)
            if batch.isEmpty {
                await buffer.doorbell.wait()
                try Task.checkCancellation()
                continue
            }
            writing.withLock { $0 = Clock.now }
            var written = 0
            do {
                for frame in batch {
                    try await outbound.write(.text(frame))
                    written += 1
                }
            } catch {
                buffer.wrote(written, marked: false)
                throw error
            }
            // The marker is recorded before its LOG_DONE goes out: the answer can arrive before
            // this task runs again, and an answer with no marker waiting would be lost (the
            // batch then stayed unacknowledged and the final flush waited its whole timeout).
            // If the write fails, the reconnect forgets every marker anyway.
            buffer.wrote(written, marked: true)
            try await outbound.write(.text(logDoneFrame()))
            writing.withLock { $0 = nil }
        }
    }

    private func read(_ inbound: WebSocketInboundStream) async throws {
        for try await message in inbound.messages(maxSize: 1 << 20) {
            let bytes = message.bytes
            do {
                let action = try ServiceAction.decode(bytes)
                if action.action == .logDone {
                    buffer.acknowledge()
                } else {
                    onAction(action)
                }
            } catch {
                onEvent(.note("Ignoring a message from the service that is not an action (\(bytes.count) bytes): \(error)"))
            }
        }
        throw LinkError.closed
    }
}
