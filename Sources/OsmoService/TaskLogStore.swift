import Glibc
import OsmoCore
import OsmoNet
import OsmoSystem
import Synchronization

/// Where the local service keeps what tasks send: `<dir>/<workflow>/<task>.jsonl` (one log
/// object per line, as received) and `<dir>/<workflow>/.metrics.jsonl` (a name no task can take:
/// task names that start with `.` are stored with a `_` first); with `echo`, log lines are also
/// printed in the platform's rendering (`YYYY/MM/DD HH:MM:SS [task] text`).
///
/// Lines are buffered per task and appended in batches; a file is opened only for the write
/// and closed after it, so however many tasks send logs, the store holds no descriptor between
/// writes. A failed write keeps the lines buffered and is reported, so `log_done` is never
/// answered for lines that are not on disk.
final class TaskLogStore: Sendable {
    final class File: Sendable {
        let path: String
        let pending = Mutex([UInt8]())
        init(path: String) { self.path = path }

        func append(_ line: String) {
            let full = pending.withLock { bytes in
                bytes.append(contentsOf: line.utf8)
                bytes.append(0x0A)
                return bytes.count > 256 * 1024
            }
            if full { _ = flush() }
        }

        /// Writes what is buffered; false (lines kept) when the file cannot be written.
        func flush() -> Bool {
            pending.withLock { bytes in
                guard !bytes.isEmpty else { return true }
                let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                guard fd >= 0 else { return false }
                defer { close(fd) }
                do {
                    try bytes.withUnsafeBytes { try FileSystem.writeAll(fd, $0, what: "task log \(path)") }
                } catch {
                    return false
                }
                bytes.removeAll(keepingCapacity: true)
                return true
            }
        }
    }

    let directory: String
    let echo: Bool
    private let files = Mutex([String: File]())

    init(directory: String, echo: Bool) {
        self.directory = directory
        self.echo = echo
    }

    func file(_ workflow: String, _ name: String) -> File? {
        files.withLock { files in
            let path = Path.join(Path.join(directory, TaskLogStore.safe(workflow)), name)
            if let file = files[path] { return file }
            try? FileSystem.makeDirectory(Path.parent(path), mode: 0o755)
            let file = File(path: path)
            files[path] = file
            return file
        }
    }

    /// A task's log file (named from a client-chosen task name, made safe).
    func taskFile(_ workflow: String, _ task: String) -> File? {
        file(workflow, TaskLogStore.safe(task) + ".jsonl")
    }

    func log(_ file: File?, _ task: String, object: String, time: Substring?, text: @autoclosure () -> String?) {
        file?.append(object)
        if echo, let text = text() {
            let stamp = time.map { LogStamp.console($0) } ?? ""
            print("\(stamp) [\(task)] \(text)")
        }
    }

    static let metricsName = ".metrics.jsonl"

    func metric(_ workflow: String, object: String) {
        let file = file(workflow, Self.metricsName)
        file?.append(object)
        _ = file?.flush()
    }

    /// True when everything the task sent is on disk.
    func flush(_ workflow: String, _ task: String) -> Bool {
        taskFile(workflow, task)?.flush() ?? false
    }

    /// The highest `Seq` already stored for a task (a restarted service must still drop the
    /// lines ctrl re-sends).
    func storedSeq(_ workflow: String, _ task: String) -> Int? {
        let path = Path.join(Path.join(directory, TaskLogStore.safe(workflow)), TaskLogStore.safe(task) + ".jsonl")
        guard let text = try? FileSystem.readText(path) else { return nil }
        for line in text.split(separator: "\n").reversed() {
            if let seq = JSONString.integer("Seq", in: String(line)) { return seq }
        }
        return nil
    }

    func flushAll() {
        for file in files.withLock({ Array($0.values) }) { _ = file.flush() }
    }

    /// A path component from a name the client chose.
    static func safe(_ name: String) -> String {
        let cleaned = String(name.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        // No hidden names: those are the service's own (`.metrics.jsonl`), and `.`/`..` are not names.
        return cleaned.isEmpty ? "_" : cleaned.hasPrefix(".") ? "_" + cleaned : cleaned
    }
}

enum LogStamp {
    /// `2026-11-25T15:49:33.404Z` → `2026/11/25 15:49:33`
    static func console(_ time: Substring) -> String {
        guard time.count >= 19 else { return String(time) }
        let date = time.prefix(10).replacingOccurrences("-", "/")
        let clock = time.dropFirst(11).prefix(8)
        return "\(date) \(clock)"
    }
}

extension Substring {
    func replacingOccurrences(_ a: Character, _ b: Character) -> String { String(map { $0 == a ? b : $0 }) }
}
