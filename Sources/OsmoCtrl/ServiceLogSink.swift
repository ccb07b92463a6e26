import OsmoNet
import Synchronization

/// Log records into the service link's buffer, in the service's frame shape. Only appends: the
/// link's writer task does the network I/O.
public final class ServiceLogSink: LogSink {
    let buffer: LogBuffer
    /// The formatted second of the last record (a relay stamps thousands of lines a second).
    private let second = Mutex((seconds: -1, text: ""))

    public init(buffer: LogBuffer) {
        self.buffer = buffer
    }

    public func emit(_ record: LogRecord) {
        let prefix = second.withLock { cached in
            if cached.seconds != record.seconds { cached = (record.seconds, LogTime.rfc3339Seconds(record.seconds)) }
            return cached.text
        }
        let time = LogTime.rfc3339(record.seconds, record.nanoseconds, prefix: prefix)
        buffer.appendSequenced(ServiceFrames.logPrefix(source: record.source, time: time, text: record.text, ioType: record.kind.rawValue), mayWait: record.isUserOutput)
    }

    public func flush() {}
}
