import OsmoSystem
import Synchronization

/// Bytes and files moved so far, shared by every transfer of one operation (any thread).
public final class TransferProgress: Sendable {
    private let counters = Mutex(Counters())
    public let started = Clock.now

    public struct Counters: Sendable {
        public var bytes: Int64 = 0
        public var files = 0
        public var totalBytes: Int64 = 0
        public var totalFiles = 0
    }

    public init() {}

    public func add(bytes: Int64 = 0, files: Int = 0) {
        counters.withLock {
            $0.bytes += bytes
            $0.files += files
        }
    }

    public func expect(bytes: Int64, files: Int) {
        counters.withLock {
            $0.totalBytes += bytes
            $0.totalFiles += files
        }
    }

    public var snapshot: Counters { counters.withLock { $0 } }

    /// The reference's tqdm-like shape: `NN%| done/total [elapsed<eta, rate]`.
    public func line(now: Double = Clock.now) -> String {
        let c = snapshot
        let elapsed = max(now - started, 0.001)
        let rate = Double(c.bytes) / elapsed
        let total = max(c.totalBytes, c.bytes)
        let percent = total > 0 ? Int(Double(c.bytes) * 100 / Double(total)) : 100
        let eta = rate > 0 && total > c.bytes ? Double(total - c.bytes) / rate : 0
        return "\(percent)%| \(TransferProgress.size(c.bytes))/\(TransferProgress.size(total)) "
            + "[\(TransferProgress.duration(elapsed))<\(TransferProgress.duration(eta)), \(TransferProgress.size(Int64(rate)))/s] "
            + "\(c.files)/\(max(c.totalFiles, c.files)) files"
    }

    public static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes)B" }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)\(units[unit])"
    }

    public static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        let two = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(two(m)):\(two(s))"
    }
}
