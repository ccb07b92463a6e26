import Synchronization
import Glibc

/// Time stamps in the two renderings the platform uses.
enum LogTime {
    static func utc(_ seconds: Int) -> tm {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return parts
    }

    static func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// `YYYY/MM/DD HH:MM:SS` (Go's `log` default, in UTC).
    static func console(_ seconds: Int) -> String {
        let t = utc(seconds)
        return "\(t.tm_year + 1900)/\(two(t.tm_mon + 1))/\(two(t.tm_mday)) \(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec))"
    }

    /// Go's RFC 3339 with nanoseconds, UTC, trailing zeros of the fraction trimmed.
    static func rfc3339(_ seconds: Int, _ nanoseconds: Int, prefix: String? = nil) -> String {
        var text = prefix ?? rfc3339Seconds(seconds)
        if nanoseconds > 0 {
            var fraction = String(nanoseconds)
            fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }

    /// `YYYY-MM-DDTHH:MM:SS`, the part a log sink can reuse for every record of the same second.
    static func rfc3339Seconds(_ seconds: Int) -> String {
        let t = utc(seconds)
        return "\(t.tm_year + 1900)-\(two(t.tm_mon + 1))-\(two(t.tm_mday))T\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec))"
    }

    /// `YYYY-MM-DD HH:MM:SS.mmm`, the metrics' time format.
    static func metrics(_ seconds: Double) -> String {
        let whole = Int(seconds)
        let t = utc(whole)
        let millis = Int((seconds - Double(whole)) * 1000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(t.tm_year + 1900)-\(two(t.tm_mon + 1))-\(two(t.tm_mday)) \(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)).\(ms)"
    }
}

/// `LogTime.rfc3339` for a stream of records, reusing the formatted second (a relay stamps
/// thousands of lines per second). One per sink: the JSON-lines file and the service link.
final class RFC3339Stamper: Sendable {
    private let second = Mutex((seconds: -1, text: ""))

    func stamp(_ record: LogRecord) -> String {
        let prefix = second.withLock { cached in
            if cached.seconds != record.seconds { cached = (record.seconds, LogTime.rfc3339Seconds(record.seconds)) }
            return cached.text
        }
        return LogTime.rfc3339(record.seconds, record.nanoseconds, prefix: prefix)
    }
}
