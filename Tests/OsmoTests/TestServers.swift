import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem

/// Where the Python servers of `Tests/Servers/` live.
enum ServerScripts {
    static func path(_ name: String) -> String {
        Path.join(Path.parent(Path.parent(#filePath)), "Servers", name)
    }

    /// Starts `python3 script args… --ready-file F` and waits (up to 30 s) for F to appear.
    static func start(_ script: String, _ arguments: [String], scratch: Scratch) throws -> (ChildProcess, String) {
        let ready = scratch.at("ready-\(script)")
        let log = open(scratch.at("\(script).stderr"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(log) }
        let python = ExecutableLocation.search("python3", path: String(cString: getenv("PATH") ?? strdup("/usr/bin"))) ?? "/usr/bin/python3"
        let child = try ChildProcess.spawn(
            executable: python, arguments: ["python3", path(script)] + arguments + ["--ready-file", ready],
            environment: ChildProcess.currentEnvironment, stdout: log, stderr: log)
        let deadline = Clock.now + 30
        while !FileSystem.exists(ready) {
            var status: Int32 = 0
            if waitpid(child.pid, &status, WNOHANG) == child.pid {
                let output = text(of: scratch.at("\(script).stderr"))
                throw OsmoError(.io, "\(script) exited before it was ready: \(output)")
            }
            if Clock.now > deadline {
                child.signal(SIGKILL)
                _ = try? child.wait()
                throw OsmoError(.io, "\(script) was not ready within 30 s")
            }
            usleep(20_000)
        }
        return (child, try FileSystem.readText(ready).trimmingSpaces())
    }
}

/// `Tests/Servers/httpd.py`: a real HTTP/1.1 server on 127.0.0.1 with Range, PUT, an access log
/// and per-path fault injection.
final class HTTPTestServer {
    let scratch = Scratch("osmo-httpd")
    let child: ChildProcess
    let port: Int
    var root: String { scratch.at("root") }

    struct Access: Decodable {
        var method: String
        var path: String
        var range: String?
        var status: Int
        var bytes: Int64
    }

    init(rate: Int? = nil) throws {
        try FileSystem.makeDirectory(scratch.at("root"), mode: 0o755)
        var arguments = ["--root", scratch.at("root"), "--port", "0", "--log", scratch.at("access.jsonl")]
        if let rate { arguments += ["--rate", "\(rate)"] }
        let (child, ready) = try ServerScripts.start("httpd.py", arguments, scratch: scratch)
        self.child = child
        port = Int(ready) ?? 0
    }

    deinit {
        child.signal(SIGTERM)
        _ = try? child.wait()
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }

    func put(_ path: String, _ bytes: [UInt8]) throws {
        try FileSystem.makeDirectory(Path.parent(Path.join(root, path)), mode: 0o755)
        try FileSystem.writeAtomically(bytes, to: Path.join(root, path))
    }

    /// Queues faults for `path`: a JSON array of fault objects (see httpd.py).
    func faults(_ path: String, _ json: String) throws {
        try FileSystem.writeAtomically(Array("{\"/\(path)\": \(json)}".utf8), to: Path.join(root, ".faults.json"))
    }

    /// The access log so far (lines are written just after a response ends: poll briefly).
    func accesses(path: String, expecting count: Int = 0) -> [Access] {
        let deadline = Clock.now + 3
        while true {
            let log = text(of: scratch.at("access.jsonl"))
            let all = log.split(separator: "\n").compactMap { try? JSONDecoder().decode(Access.self, from: Data($0.utf8)) }
            let matching = all.filter { $0.path == "/\(path)" }
            if matching.count >= count || Clock.now > deadline { return matching }
            usleep(20_000)
        }
    }
}

/// Deterministic pseudo-random bytes (test payloads that do not compress away).
func testBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out[i] = UInt8(truncatingIfNeeded: state)
    }
    return out
}

/// `Tests/Servers/s3.py`: moto's S3 on 127.0.0.1 with SigV4 signatures really checked, an IAM
/// user's keys, and a bucket.
final class S3TestServer {
    let scratch = Scratch("osmo-s3")
    let child: ChildProcess
    let endpoint: String
    let accessKeyID: String
    let secretAccessKey: String
    let bucket = "osmo-test"

    private struct Ready: Decodable {
        var endpoint: String
        var access_key_id: String
        var secret_access_key: String
    }

    init() throws {
        let (child, ready) = try ServerScripts.start("s3.py", ["--port", "0", "--log", scratch.at("s3.log")], scratch: scratch)
        self.child = child
        let info = try JSONDecoder().decode(Ready.self, from: Data(ready.utf8))
        endpoint = info.endpoint
        accessKeyID = info.access_key_id
        secretAccessKey = info.secret_access_key
    }

    deinit {
        child.signal(SIGTERM)
        _ = try? child.wait()
    }

    /// Environment for `osmo data` (credentials from the usual AWS variables).
    func environment(secret: String? = nil) -> [String] {
        ["AWS_ACCESS_KEY_ID=\(accessKeyID)", "AWS_SECRET_ACCESS_KEY=\(secret ?? secretAccessKey)",
         "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=\(endpoint)", "HOME=\(scratch.path)"]
    }
}
