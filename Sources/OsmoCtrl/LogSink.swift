import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem
import Synchronization

/// Where ctrl's log records go. The console and JSON-lines sinks are here; the service's
/// websocket sink plugs into the same interface.
public protocol LogSink: Sendable {
    func emit(_ record: LogRecord)
    /// Pushes buffered records out (called after each batch and before exit).
    func flush()
}

/// Every record to several sinks.
public struct LogFanOut: LogSink {
    public let sinks: [any LogSink]
    public init(_ sinks: [any LogSink]) { self.sinks = sinks }
    public func emit(_ record: LogRecord) { for sink in sinks { sink.emit(record) } }
    public func flush() { for sink in sinks { sink.flush() } }
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
public final class ConsoleLogSink: LogSink {
    private let writer: BufferedWriter

    public init(fd: Int32 = 1) {
        writer = BufferedWriter(fd: fd)
    }

    public func emit(_ record: LogRecord) {
        if record.isUserOutput {
            // ExecFailed's text ends in a newline of its own (the reference's wording).
            let text = record.text.hasSuffix("\n") ? String(record.text.dropLast()) : record.text
            writer.append("[\(record.source)] \(text)\n")
        } else {
            // ctrl's own lines are few and must show when they happen (`kubectl logs` reads a
            // pipe): written at once, after whatever user output is still buffered.
            writer.append("\(LogTime.console(record.seconds)) [\(record.source)][osmo] \(record.text)\n")
            writer.flush()
        }
    }

    public func flush() { writer.flush() }
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
