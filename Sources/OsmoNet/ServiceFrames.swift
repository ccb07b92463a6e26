import OsmoProtocol

/// The objects ctrl sends on the logger websocket (PROTOCOL.md §6), each one JSON object that is
/// then sent as a JSON *string* (double-encoded) followed by a newline, as Go's encoder does.
public enum ServiceFrames {
    /// A log object `{"Source","Time","Text","IOType","Seq"}`, already quoted, without its
    /// `Seq` and closing: the buffer adds `,"Seq":N}` under its lock (`LogBuffer.appendSequenced`).
    /// `Seq` is ours: the reference service reads known keys only, and our local service uses it
    /// to drop the copies a reconnect re-sends.
    public static func logPrefix(source: String, time: String, text: String, ioType: String) -> String {
        var inner: [UInt8] = []
        inner.reserveCapacity(text.utf8.count + source.utf8.count + 96)
        inner.append(contentsOf: "{\"Source\":".utf8)
        GoJSON.appendString(source, to: &inner)
        inner.append(contentsOf: ",\"Time\":\"".utf8)
        inner.append(contentsOf: time.utf8)
        inner.append(contentsOf: "\",\"Text\":".utf8)
        GoJSON.appendString(text, to: &inner)
        inner.append(contentsOf: ",\"IOType\":\"".utf8)
        inner.append(contentsOf: ioType.utf8)
        inner.append(0x22)
        var outer: [UInt8] = []
        inner.withUnsafeBufferPointer { GoJSON.appendQuoted($0, to: &outer) }
        outer.removeLast()
        return String(decoding: outer, as: UTF8.self)
    }

    /// A complete log object (no `Seq`), e.g. the dropped-lines warning.
    public static func log(source: String, time: String, text: String, ioType: String) -> String {
        "{\"Source\":\(GoJSON.quote(source)),\"Time\":\"\(time)\",\"Text\":\(GoJSON.quote(text)),\"IOType\":\"\(ioType)\"}"
    }

    /// The flush request the service answers with `{"action": "log_done"}`.
    public static func logDone(source: String, time: String) -> String {
        "{\"Source\":\(GoJSON.quote(source)),\"Time\":\"\(time)\",\"Text\":\"\",\"IOType\":\"LOG_DONE\"}"
    }

    /// Joins barrier `name`; `Count` -1 means "the whole group".
    public static func barrier(name: String, count: Int = -1) -> String {
        "{\"Name\":\(GoJSON.quote(name)),\"Count\":\(count),\"IOType\":\"BARRIER\"}"
    }

    /// `group_metrics` / `task_io_metrics`; `metric` is a JSON object.
    public static func metrics(source: String, time: String, type: String, metric: String) -> String {
        "{\"Source\":\(GoJSON.quote(source)),\"Time\":\"\(time)\",\"Metric\":\(metric),\"IOType\":\"METRICS\",\"MetricType\":\"\(type)\"}"
    }

    /// The TEXT frame's payload for one object.
    public static func frame(_ object: String) -> String {
        GoJSON.quote(object) + "\n"
    }
}
