import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem

/// `osmo service` as a child process on 127.0.0.1, restartable on the same port.
final class ServiceProcess {
    let scratch = Scratch("osmo-service")
    let extra: [String]
    private(set) var child: ChildProcess?
    private(set) var port = 0
    private var starts = 0

    init(_ extra: [String] = []) throws {
        self.extra = extra
        try start()
    }

    deinit { kill() }

    var url: String { "http://127.0.0.1:\(port)" }
    var logs: String { scratch.at("logs") }
    var tokenFile: String { scratch.at("refresh_token") }

    func start() throws {
        starts += 1
        if !FileSystem.exists(tokenFile) { try scratch.write("refresh_token", "local-refresh-\(getpid())-\(port)\n") }
        let out = scratch.at("service-\(starts).out")
        let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(fd) }
        child = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo", "service", "--listen", "127.0.0.1:\(port)", "--log-dir", logs, "--refresh-token-file", tokenFile, "--quiet"] + extra,
            environment: ChildProcess.currentEnvironment, stdout: fd, stderr: fd)
        let deadline = Clock.now + 30
        while true {
            let text = text(of: out)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening ") }), let colon = line.lastIndex(of: ":") {
                port = Int(line[line.index(after: colon)...]) ?? 0
                return
            }
            var status: Int32 = 0
            if let child, waitpid(child.pid, &status, WNOHANG) == child.pid {
                throw OsmoError(.io, "osmo service exited before it was ready: \(text)")
            }
            if Clock.now > deadline { throw OsmoError(.io, "osmo service was not ready within 30 s: \(text)") }
            usleep(10_000)
        }
    }

    /// Gone at once, as a crashed or rescheduled service pod.
    func kill() {
        guard let child else { return }
        child.signal(SIGKILL)
        _ = try? child.wait()
        self.child = nil
    }

    /// The log objects stored for a task, in arrival order.
    func records(_ workflow: String, _ task: String) -> [StoredLine] {
        text(of: Path.join(logs, workflow, "\(task).jsonl")).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(StoredLine.self, from: Data($0.utf8))
        }
    }

    func metrics(_ workflow: String) -> String { text(of: Path.join(logs, workflow, ".metrics.jsonl")) }

    /// `GET path` on the service.
    func get(_ path: String) throws -> String {
        try Shell.run(Python.path, ["-c", "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]).read().decode())", url + path]).stdout
    }

    func post(_ path: String) throws -> String {
        let result = try Shell.run(Python.path, ["-c", "import sys,urllib.request;print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='POST')).read().decode())", url + path])
        guard result.status == 0 else { throw OsmoError(.io, "POST \(path): \(result.stderr)") }
        return result.stdout
    }

    /// Waits until `condition` holds for a task's stored lines.
    @discardableResult
    func waitFor(_ workflow: String, _ task: String, timeout: Double = 30, _ condition: ([StoredLine]) -> Bool) -> Bool {
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            if condition(records(workflow, task)) { return true }
            usleep(50_000)
        }
        return false
    }
}

/// One stored log object.
struct StoredLine: Decodable {
    var Source: String
    var Time: String
    var Text: String
    var IOType: String
    var Seq: Int?

    /// Seconds since midnight UTC (the tests compare times within one run).
    var seconds: Double {
        let clock = Time.split(separator: "T").last ?? ""
        let parts = clock.dropLast().split(separator: ":")
        guard parts.count == 3 else { return 0 }
        return (Double(parts[0]) ?? 0) * 3600 + (Double(parts[1]) ?? 0) * 60 + (Double(parts[2]) ?? 0)
    }
}

/// `osmo pod run` in the background, against a service.
final class PodProcess {
    let scratch = Scratch("osmo-pod")
    let child: ChildProcess
    var podDirectory: String { scratch.at("pod") }

    convenience init(service: ServiceProcess, workflow: String, task: String, options: [String] = [], command: [String]) throws {
        try self.init(url: service.url, tokenFile: service.tokenFile, workflow: workflow, task: task, options: options, command: command)
    }

    convenience init(url: String, tokenFile: String, workflow: String, task: String, options: [String], command: [String], environment: [String] = ChildProcess.currentEnvironment) throws {
        try self.init(podArguments: ["--service", url, "--refresh-token-file", tokenFile, "--workflow", workflow, "--task", task] + options, command: command, environment: environment)
    }

    /// `osmo pod run --pod-dir … <podArguments> -- <command>` (e.g. `--no-service`).
    init(podArguments: [String], command: [String], environment: [String] = ChildProcess.currentEnvironment) throws {
        let fd = open(scratch.at("pod.out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(fd) }
        child = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo", "pod", "run", "--pod-dir", scratch.at("pod")] + podArguments + ["--"] + command,
            environment: environment, stdout: fd, stderr: fd)
    }

    private var status: Int32?

    deinit {
        if status == nil {
            child.signal(SIGKILL)
            _ = try? child.wait()
        }
    }

    var output: String { text(of: scratch.at("pod.out")) }
    /// ctrl's own record of every log line (its `-logFile`).
    var taskLog: [StoredLine] {
        text(of: Path.join(podDirectory, "task-log.jsonl")).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(StoredLine.self, from: Data($0.utf8))
        }
    }

    /// The pod's exit status, waiting at most `timeout` seconds (then it is killed: -1).
    func wait(timeout: Double) -> Int32 {
        if let status { return status }
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            var raw: Int32 = 0
            if waitpid(child.pid, &raw, WNOHANG) == child.pid {
                status = ChildProcess.Termination(waitStatus: raw).exitStatus
                return status!
            }
            usleep(50_000)
        }
        child.signal(SIGKILL)
        _ = try? child.wait()
        status = -1
        return -1
    }

    func terminate() { child.signal(SIGTERM) }
}

enum Python {
    static let path = ExecutableLocation.search("python3", path: String(cString: getenv("PATH") ?? strdup("/usr/bin"))) ?? "/usr/bin/python3"
}

/// ctrl started on its own on a scratch pod layout (no `pod run`, no wrapper unless the test
/// starts one on `socket`), with no data credentials; its stdout and stderr go to one pipe whose
/// read end is `output`, for the test to read (or leave unread).
final class LoneCtrl {
    let child: ChildProcess
    let socket: String
    let output: Int32

    init(_ scratch: Scratch, workflow: String, arguments: [String] = [], environment: [String] = []) throws {
        for dir in ["input", "output", "socket"] { try FileSystem.makeDirectory(scratch.at(dir), mode: 0o755) }
        socket = scratch.at("socket/data.sock")
        let pipe = try ProcessControl.pipe()
        child = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo_ctrl", "-socketPath", socket, "-inputPath", scratch.at("input/"), "-outputPath", scratch.at("output/"),
                        "-workflow", workflow, "-logSource", "t", "-userConfig", "/nonexistent", "-serviceConfig", "/nonexistent"] + arguments,
            environment: ChildProcess.currentEnvironment + ["OSMO_TERMINATION_LOG=\(scratch.at("termination-log"))"] + environment,
            stdout: pipe.write, stderr: pipe.write)
        close(pipe.write)
        output = pipe.read
    }

    deinit { close(output) }
}
