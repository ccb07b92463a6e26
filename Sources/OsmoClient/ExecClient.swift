import Glibc
import NIOCore
import OsmoCore
import OsmoTransfer
import OsmoNet
import OsmoSystem
import Synchronization
import WSClient

/// `osmo exec` / `osmo workflow exec`: asks the service for an exec session, meets the task at the
/// router, and makes the remote shell feel local: raw terminal (restored on every way out),
/// window-size changes sent as `\0RESIZE:` records, and the remote shell's exit status as ours.
public struct ExecClient: Sendable {
    public var service: ServiceClient
    public var workflow: String
    public var task: String
    public var entry: String
    public var connectTimeoutSeconds = 60.0

    public init(service: ServiceClient, workflow: String, task: String, entry: String) {
        self.service = service
        self.workflow = workflow
        self.task = task
        self.entry = entry
    }

    /// Runs the session; returns the exit status (the remote shell's when it reported one).
    /// The signals to handle (SIGWINCH, SIGTERM, SIGHUP, SIGINT) must have been blocked in every
    /// thread, i.e. the channel created on the main thread before anything else started.
    public static func signals() throws -> SignalChannel {
        try SignalChannel([SIGWINCH, SIGTERM, SIGHUP, SIGINT])
    }

    public func run(signals: SignalChannel) async throws -> Int32 {
        let info = try await service.exec(workflow: workflow, task: task, entry: entry)
        let terminal = RawTerminal(fd: 0)
        let input = ClientInput()
        ThreadStarter.detach {
            while true {
                _ = try? Poll.wait(signals.fd, events: Int16(POLLIN), timeoutMilliseconds: -1)
                for signal in signals.drain() {
                    if signal == SIGWINCH {
                        if let size = RawTerminal.windowSize(0) { input.push(Array("\0RESIZE:{\"Rows\":\(size.rows),\"Cols\":\(size.cols)}".utf8)) }
                    } else {
                        terminal.restore()
                        exit(ExitCode.status(signal: signal))
                    }
                }
            }
        }
        ThreadStarter.detach {
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
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
        terminal.enter()
        defer { terminal.restore() }
        let trailer = Shared(ExitTrailer())
        let target = WebSocketTarget(url: info.url("exec", workflow: workflow), headers: try await service.routerHeaders(cookie: info.cookie), handshakeTimeout: .seconds(connectTimeoutSeconds), verifyPeer: ServiceTLS.verify)
        let close = try await WebSocketDial.connect(target) { inbound, outbound in
            let size = RawTerminal.windowSize(0) ?? (24, 80)
            try await outbound.write(.binary(ByteBuffer(string: "{\"Rows\":\(size.rows),\"Cols\":\(size.cols),\"ExitStatus\":true}")))
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    var sentEOF = false
                    while let chunk = await input.next() {
                        if chunk.isEmpty {
                            if !sentEOF { try await outbound.write(.binary(ByteBuffer())) }
                            sentEOF = true
                        } else if !sentEOF {
                            try await outbound.write(.binary(ByteBuffer(bytes: chunk)))
                        }
                    }
                    return false
                }
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        guard case .binary(var buffer) = message else { continue }
                        if buffer.readableBytes == 0 { break }
                        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
                        let visible = trailer.value.withLock { $0.feed(bytes) }
                        visible.withUnsafeBytes { try? FileSystem.writeAll(1, $0, what: "stdout") }
                    }
                    let rest = trailer.value.withLock { $0.finish() }
                    rest.withUnsafeBytes { try? FileSystem.writeAll(1, $0, what: "stdout") }
                    return true
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
        return trailer.value.withLock { $0.status } ?? 0
    }
}

/// Keystrokes and resize records on their way to the session, in order.
final class ClientInput: Sendable {
    private let queue = Mutex([[UInt8]]())
    private let doorbell = Doorbell()

    func push(_ bytes: [UInt8]) {
        queue.withLock { $0.append(bytes) }
        doorbell.ring()
    }

    /// The next chunk (empty = end of input); nil when cancelled.
    func next() async -> [UInt8]? {
        while true {
            if let chunk = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return chunk }
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
