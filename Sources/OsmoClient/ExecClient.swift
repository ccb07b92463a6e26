import Glibc
import NIOCore
import OsmoCore
import OsmoTransfer
import OsmoNet
import OsmoProtocol
import OsmoSystem
import Synchronization
import WSClient

/// `osmo exec` / `osmo workflow exec`: asks the service for an exec session, meets the task at the
/// router, and runs the command there the way `kubectl exec` / `docker exec` do.
///
/// - **Terminal** (`-t`, or stdin and stdout both terminals): raw terminal (restored on every way
///   out), window-size changes as `\0RESIZE:` records, the end of piped input typed as ^D.
/// - **Pipes** (otherwise): our wrapper runs the command on plain pipes (`ExecFraming`): stdout
///   and stderr kept apart, every byte exact, stdin forwarded (`-i`, or when it is not a
///   terminal) and its end delivered. A reference wrapper cannot: the session then runs on its
///   terminal, with a notice.
///
/// Either way the exit status is the remote command's; a session cut before it reported one is
/// an error (code 255, as ssh), never a silent 0.
public struct ExecClient: Sendable {
    public var service: ServiceClient
    public var workflow: String
    public var task: String
    public var entry: String
    public var connectTimeoutSeconds = 60.0
    /// A terminal for the command (else pipes).
    public var tty: Bool
    /// Send our stdin to the command.
    public var forwardInput: Bool

    /// The status for a session that ended without the command's status.
    public static let sessionLost: Int32 = 255

    public init(service: ServiceClient, workflow: String, task: String, entry: String, tty: Bool? = nil, interactive: Bool? = nil) {
        self.service = service
        self.workflow = workflow
        self.task = task
        self.entry = entry
        let terminals = isatty(0) != 0 && isatty(1) != 0
        self.tty = tty ?? (interactive == nil && terminals)
        self.forwardInput = interactive ?? (self.tty ? isatty(0) != 0 : isatty(0) == 0)
    }

    /// The signals to handle (SIGWINCH, SIGTERM, SIGHUP, SIGINT) must have been blocked in every
    /// thread, i.e. the channel created on the main thread before anything else started.
    public static func signals() throws -> SignalChannel {
        try SignalChannel([SIGWINCH, SIGTERM, SIGHUP, SIGINT])
    }

    /// Runs the session; returns the exit status.
    public func run(signals: SignalChannel) async throws -> Int32 {
        let info = try await service.exec(workflow: workflow, task: task, entry: entry)
        let terminal = RawTerminal(fd: 0)
        let input = ClientInput()
        let session = ExecOutput(tty: tty)
        ThreadStarter.detach {
            while true {
                _ = try? Poll.wait(signals.fd, events: Int16(POLLIN), timeoutMilliseconds: -1)
                for signal in signals.drain() {
                    if signal == SIGWINCH {
                        if let size = RawTerminal.windowSize(0) { input.push(Array("\0RESIZE:{\"Rows\":\(size.rows),\"Cols\":\(size.cols)}".utf8), urgent: true) }
                    } else {
                        terminal.restore()
                        exit(ExitCode.status(signal: signal))
                    }
                }
            }
        }
        if forwardInput {
            ThreadStarter.detach {
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 {
                        input.push([])
                        return
                    }
                    input.push(Array(buffer[0..<n]))
                }
            }
        } else {
            input.push([])
        }
        if tty { terminal.enter() }
        defer { terminal.restore() }
        let target = WebSocketTarget(url: info.url("exec", workflow: workflow), headers: try await service.routerHeaders(cookie: info.cookie), handshakeTimeout: .seconds(connectTimeoutSeconds), verifyPeer: ServiceTLS.verify)
        let wantsTTY = tty
        let close = try await WebSocketDial.connect(target) { inbound, outbound, pacer in
            let size = RawTerminal.windowSize(0) ?? (24, 80)
            try await outbound.write(.binary(ByteBuffer(string: "{\"Rows\":\(size.rows),\"Cols\":\(size.cols),\"ExitStatus\":true\(wantsTTY ? "" : ",\"Tty\":false")}")))
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    // Input waits for the wrapper's mode: records for pipes, raw bytes for a terminal.
                    guard let mode = await session.mode() else { return false }
                    var sentEOF = false
                    while let chunk = await input.next() {
                        if sentEOF { continue }
                        switch mode {
                        case .pipe:
                            let record = chunk.isEmpty ? ExecFraming.record(.stdinClosed, []) : ExecFraming.record(.stdin, chunk)
                            try await outbound.write(.binary(ByteBuffer(bytes: record)))
                        case .tty:
                            // The reference router passes no empty frame: the end is ^D, typed.
                            try await outbound.write(.binary(ByteBuffer(bytes: chunk.isEmpty ? [4] : chunk)))
                        }
                        await pacer.settle()
                        sentEOF = chunk.isEmpty
                    }
                    return false
                }
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        guard case .binary(var buffer) = message else { continue }
                        if buffer.readableBytes == 0 { break }
                        try session.feed(buffer.readBytes(length: buffer.readableBytes) ?? [])
                        if session.finished { break }
                    }
                    session.finish()
                    return true
                }
                group.addTask {
                    // A reference wrapper sends no hello: after a while, it is one.
                    try await Task.sleep(for: .seconds(ExecOutput.helloWaitSeconds))
                    session.noHello()
                    return false
                }
                // The session is over when the remote side has finished sending.
                defer { group.cancelAll() }
                while let outputEnded = try await group.next() {
                    if outputEnded { break }
                }
            }
        }
        if case .unknown(4000) = close?.closeCode {
            throw OsmoError(.io, "the task did not join the session within the router's timeout (\(close?.reason ?? "no reason given")): is it still running?")
        }
        terminal.restore()
        return session.exitStatus()
    }
}

/// Keystrokes, piped input and resize records on their way to the session, in order, with at
/// most `limit` bytes waiting: beyond it the stdin reader blocks, so a big file piped in is read
/// as fast as the session sends it on, not into memory.
///
/// Concurrency model: the chunks live in a `ConditionLock`; the stdin reader thread pushes
/// (waiting while the queue is full) and the signal thread pushes resize records (never
/// waiting); the session's input task takes chunks, which wakes the reader (the lock broadcasts
/// on every release), and sleeps on a `Doorbell` it alone waits on.
final class ClientInput: Sendable {
    static let limit = 1 << 20
    private let queue = ConditionLock((chunks: [[UInt8]](), bytes: 0))
    private let doorbell = Doorbell()

    /// Queues `bytes`; blocks the calling thread while the queue is full, unless `urgent`.
    func push(_ bytes: [UInt8], urgent: Bool = false) {
        _ = queue.wait { q -> Bool? in
            guard urgent || q.bytes < Self.limit else { return nil }
            q.chunks.append(bytes)
            q.bytes += bytes.count
            return true
        }
        doorbell.ring()
    }

    /// The next chunk (empty = end of input); nil when cancelled.
    func next() async -> [UInt8]? {
        while true {
            let chunk = queue.withLock { q -> [UInt8]? in
                guard !q.chunks.isEmpty else { return nil }
                q.bytes -= q.chunks[0].count
                return q.chunks.removeFirst()
            }
            if let chunk { return chunk }
            if Task.isCancelled { return nil }
            await doorbell.wait()
        }
    }
}

/// A value shared between tasks behind a lock.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}
