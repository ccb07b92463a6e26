import OsmoNet
import Synchronization

/// Log records into the service link's buffer, in the service's frame shape. Only appends: the
/// link's writer task does the network I/O.
public final class ServiceLogSink: LogSink {
    let buffer: LogBuffer
    private let stamper = RFC3339Stamper()

    public init(buffer: LogBuffer) {
        self.buffer = buffer
    }

    public func emit(_ record: LogRecord) {
        guard record.reach == .service else { return }
        let time = stamper.stamp(record)
        buffer.appendSequenced(ServiceFrames.logPrefix(source: record.source, time: time, text: record.text, ioType: record.kind.rawValue), mayWait: record.isUserOutput)
    }

    public func flush() {}
}
