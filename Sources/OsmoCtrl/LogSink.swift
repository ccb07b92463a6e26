import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem
import Synchronization

/// Where ctrl's log records go. The console and JSON-lines sinks are here; the service's
/// websocket sink plugs into the same interface.
public protocol LogSink: Sendable {
    func emit(_ record: LogRecord)
    /// Pushes buffered records out (called after each batch); must not wait on a slow reader.
    func flush()
    /// Before the process ends: everything out, waiting at most `timeout` seconds.
    func drain(timeout: Double)
}

extension LogSink {
    public func drain(timeout: Double) { flush() }
}

/// Every record to several sinks.
public struct LogFanOut: LogSink {
    public let sinks: [any LogSink]
    public init(_ sinks: [any LogSink]) { self.sinks = sinks }
    public func emit(_ record: LogRecord) { for sink in sinks { sink.emit(record) } }
    public func flush() { for sink in sinks { sink.flush() } }
    public func drain(timeout: Double) { for sink in sinks { sink.drain(timeout: timeout) } }
}

/// Buffers bytes and writes them to a file descriptor in large pieces (a relay of a million
/// lines must not cost a million `write` calls).
final class BufferedWriter: Sendable {
    private let fd: Int32
    private let buffer = Mutex([UInt8]())
    static let limit = 256 * 1024

    init(fd: Int32) {
        self.fd = fd
    }

    func append(_ text: String) {
        let full = buffer.withLock { bytes in
            bytes.append(contentsOf: text.utf8)
            return bytes.count >= BufferedWriter.limit
        }
        if full { flush() }
    }

    func flush() {
        buffer.withLock { bytes in
            guard !bytes.isEmpty else { return }
            bytes.withUnsafeBytes { try? FileSystem.writeAll(fd, $0, what: "log") }
            bytes.removeAll(keepingCapacity: true)
        }
    }
}

/// ctrl's stdout in the platform's rendering: `YYYY/MM/DD HH:MM:SS [task][osmo] text` for its own
/// lines, `[task] text` for the user's (so `kubectl logs` of ctrl reads like the service's view).
///
/// Nothing waits for stdout: in a cluster it is the container runtime's log pipe, which a slow
/// node disk can stall for a long time, and the relay, the service link and the actions must go
/// on meanwhile. Records are appended to a buffer that one writer thread empties (within 0.1 s,
/// at once for ctrl's own lines); past `limit` buffered bytes new lines are counted, not kept,
/// and the count is reported when stdout moves again. The service and the log file get every
/// line regardless.
///
/// Concurrency model: `emit`/`flush` only append to the buffer under its Mutex (and ring `kick`
/// for ctrl's own lines); the writer thread takes the whole buffer under the Mutex and writes it
/// outside, woken by `kick` or every 0.1 s; `drain` polls (bounded) for the buffer to empty, at
/// exit. A plain Mutex for the buffer, so a flood of user lines wakes nobody.
public final class ConsoleLogSink: LogSink {
    private struct Pending {
        var bytes: [UInt8] = []
        var droppedLines = 0
        var writing = false
    }

    private let fd: Int32
    private let pending = Mutex(Pending())
    private let kick = ConditionLock(false)
    public static let limit = 16 << 20

    public init(fd: Int32 = 1) {
        self.fd = fd
        ThreadStarter.detach { [self] in writeLoop() }
    }

    public func emit(_ record: LogRecord) {
        let line: String
        if record.isUserOutput {
            // ExecFailed's text ends in a newline of its own (the reference's wording).
            let text = record.text.hasSuffix("\n") ? String(record.text.dropLast()) : record.text
            line = "[\(record.source)] \(text)\n"
        } else {
            line = "\(LogTime.console(record.seconds)) [\(record.source)][osmo] \(record.text)\n"
        }
        let kept = pending.withLock { p -> Bool in
            guard p.bytes.count < Self.limit else {
                p.droppedLines += 1
                return false
            }
            p.bytes.append(contentsOf: line.utf8)
            return true
        }
        // ctrl's own lines are few and must show when they happen.
        if kept && !record.isUserOutput { flush() }
    }

    /// Asks the writer to write now; does not wait for stdout.
    public func flush() {
        kick.withLock { $0 = true }
    }

    /// Waits until everything buffered was written, at most `timeout` seconds (at exit).
    public func drain(timeout: Double) { _ = drained(timeout: timeout) }

    /// Whether everything buffered was written within `timeout` seconds.
    public func drained(timeout: Double) -> Bool {
        flush()
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            if pending.withLock({ $0.bytes.isEmpty && $0.droppedLines == 0 && !$0.writing }) { return true }
            usleep(5_000)
        }
        return false
    }

    private func writeLoop() {
        while true {
            _ = kick.wait(timeout: 0.1) { (woken: inout Bool) -> Bool? in
                guard woken else { return nil }
                woken = false
                return true
            }
            let (bytes, dropped) = pending.withLock { p -> ([UInt8], Int) in
                let taken = (p.bytes, p.droppedLines)
                p.bytes = []
                p.droppedLines = 0
                p.writing = !taken.0.isEmpty || taken.1 > 0
                return taken
            }
            guard !bytes.isEmpty || dropped > 0 else { continue }
            bytes.withUnsafeBytes { try? FileSystem.writeAll(fd, $0, what: "stdout") }
            if dropped > 0 {
                let note = "osmo-ctrl: \(dropped) lines were not shown here while stdout was blocked (the service and the log file have them)\n"
                Array(note.utf8).withUnsafeBytes { try? FileSystem.writeAll(fd, $0, what: "stdout") }
            }
            pending.withLock { $0.writing = false }
        }
    }
}

/// One JSON object per line, the service's log record shape, appended to a file.
public final class JSONLinesLogSink: LogSink {
    private let writer: BufferedWriter
    private let fd: Int32
    private let stamper = RFC3339Stamper()

    public init(path: String) throws {
        try FileSystem.makeDirectory(Path.parent(path), mode: 0o755)
        fd = try SystemCall.retrying("cannot open log file \(path)") {
            open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        }
        writer = BufferedWriter(fd: fd)
    }

    deinit { close(fd) }

    /// What the service is sent, so ctrl's local-only lines are left out (they are on stdout).
    public func emit(_ record: LogRecord) {
        guard record.reach == .service else { return }
        writer.append(JSONLinesLogSink.json(record, time: stamper.stamp(record)) + "\n")
        if !record.isUserOutput { writer.flush() }
    }

    public func flush() { writer.flush() }

    /// `{"Source":…,"Time":…,"Text":…,"IOType":…}` with Go's escaping (the service's bytes).
    public static func json(_ record: LogRecord, time: String? = nil) -> String {
        "{\"Source\":\(GoJSON.quote(record.source)),\"Time\":\"\(time ?? LogTime.rfc3339(record.seconds, record.nanoseconds))\","
            + "\"Text\":\(GoJSON.quote(record.text)),\"IOType\":\"\(record.kind.rawValue)\"}"
    }
}
