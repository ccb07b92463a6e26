import OsmoCore
import OsmoSystem

/// `-b/--benchmark-out DIR`: the reference's transfer metrics file (`metrics.py`
/// `TransferMetrics`, written by `_write_metrics`): `DIR/<operation>_<epoch ms>.json`, the
/// directory created, with Python's `json.dump(indent=4, separators=(',', ':'))` layout (no
/// space after the colon, no final newline) and its key order. The Go ctrl reads
/// `start_time_ms`, `end_time_ms`, `total_bytes_transferred` and `total_number_of_files`.
public struct DataBenchmark: Sendable, Equatable {
    public enum Operation: String, Sendable { case upload = "upload_objects", download = "download_objects" }

    /// Wall-clock seconds since the epoch.
    public var start: Double
    public var end: Double
    /// What this run moved (files an earlier run completed are not counted).
    public var bytes: Int64
    public var files: Int

    public init(start: Double, end: Double, bytes: Int64, files: Int) {
        self.start = start
        self.end = end
        self.bytes = bytes
        self.files = files
    }

    /// `int(round(bytes * 8 / (1e6 * seconds)))`, 0 for no time; Python rounds half to even.
    public var averageMbps: Int64 {
        let seconds = end - start
        guard seconds > 0 else { return 0 }
        return Int64((Double(bytes) * 8 / (1_000_000 * seconds)).rounded(.toNearestOrEven))
    }

    /// The file's text, byte for byte as the reference writes it.
    public var json: String {
        let fields: [(String, Int64)] = [
            ("start_time_ms", Int64(start * 1000)),
            ("end_time_ms", Int64(end * 1000)),
            ("duration_ms", Int64((end - start) * 1000)),
            ("average_mbps", averageMbps),
            ("total_bytes_transferred", bytes),
            ("total_number_of_files", Int64(files)),
        ]
        return "{\n" + fields.map { "    \"\($0.0)\":\($0.1)" }.joined(separator: ",\n") + "\n}"
    }

    /// Writes `DIR/<operation>_<now ms>.json` (creating DIR) and returns its path.
    @discardableResult
    public func write(_ operation: Operation, into directory: String, now: Double = Clock.epochSeconds) throws -> String {
        try FileSystem.makeDirectory(directory, mode: 0o755)
        let path = Path.join(directory, "\(operation.rawValue)_\(Int64(now * 1000)).json")
        try FileSystem.writeAtomically(Array(json.utf8), to: path, mode: 0o644)
        return path
    }
}
