import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// exec and port-forward from the workstation CLI, through the local service's action API and
/// router, to a task run by `osmo pod run`.
@Suite struct RouterTests {
    /// A running task to reach: `sleep` for a while, killed at the end of the test.
    static func runningTask(_ service: ServiceProcess, _ workflow: String, seconds: Int = 60, options: [String] = []) throws -> PodProcess {
        let pod = try PodProcess(service: service, workflow: workflow, task: "t", options: options, command: ["sh", "-c", "echo up; sleep \(seconds)"])
        #expect(service.waitFor(workflow, "t") { $0.contains { $0.Text == "up" } })
        return pod
    }

    /// An interactive shell driven through a real pseudo-terminal: the size is the terminal's,
    /// a resize reaches the remote shell, and `exit 7` ends the client with status 7.
    @Test func interactiveShellThroughARealTerminal() throws {
        let service = try ServiceProcess()
        let pod = try Self.runningTask(service, "wf-pty")
        defer { pod.terminate() }
        let terminal = try Terminal.open()
        defer { close(terminal.master) }
        terminal.setWindowSize(rows: 30, columns: 100)
        let client = try ChildProcess.spawn(
            executable: OsmoBinary.path, arguments: ["osmo", "exec", "wf-pty", "t", "--service", service.url, "--", "/bin/sh"],
            environment: ChildProcess.currentEnvironment, tty: terminal.slavePath)
        var screen = PTYScreen(fd: terminal.master)
        var seen = screen.waitFor("$ ")
        #expect(seen, "no prompt: \(screen.text)")
        screen.type("stty size\r")
        seen = screen.waitFor("30 100")
        #expect(seen, "\(screen.text)")
        terminal.setWindowSize(rows: 40, columns: 120)
        usleep(300_000)
        screen.type("stty size\r")
        seen = screen.waitFor("40 120")
        #expect(seen, "\(screen.text)")
        screen.type("exit 7\r")
        #expect(try client.wait() == .exited(7))
    }

    /// A task that never connected (a typo) is refused at once, with the reason.
    @Test func execIntoUnknownTaskFailsClearly() throws {
        let service = try ServiceProcess()
        let exec = try Shell.run(OsmoBinary.path, ["exec", "wf-none", "nosuch", "--service", service.url, "--", "true"], stdin: "")
        #expect(exec.status == 1, "\(exec.stdout) \(exec.stderr)")
        #expect(exec.stderr.contains("HTTP 404") && exec.stderr.contains("not running"), "\(exec.stderr)")
        let forward = try Shell.run(OsmoBinary.path, ["port-forward", "wf-none", "nosuch", "--service", service.url, "--port", "0:80"])
        #expect(forward.status == 1 && forward.stderr.contains("not running"), "\(forward.stderr)")
    }

    /// Twenty sessions at once, each with its own output and exit status.
    @Test func twentyConcurrentExecSessions() throws {
        let service = try ServiceProcess()
        let pod = try Self.runningTask(service, "wf-many")
        defer { pod.terminate() }
        let url = service.url
        let results = ConditionLock([Int: Finished]())
        for index in 0..<20 {
            ThreadStarter.detach {
                let result = (try? Shell.run(OsmoBinary.path, ["exec", "wf-many", "t", "--service", url, "--", "sh", "-c", "echo session \(index); exit \(index % 7)"], stdin: ""))
                    ?? Finished(status: -1, stdout: "", stderr: "spawn failed")
                results.withLock { $0[index] = result }
            }
        }
        let all = results.wait(timeout: 120) { $0.count == 20 ? $0 : nil } ?? [:]
        #expect(all.count == 20)
        for (index, result) in all.sorted(by: { $0.key < $1.key }) {
            #expect(result.stdout.contains("session \(index)"), "session \(index): \(result.stdout) \(result.stderr)")
            #expect(result.status == Int32(index % 7), "session \(index): \(result.stderr)")
        }
    }

    /// exec works while the inputs are still downloading (a throttled 2 MB input takes ~5 s).
    @Test func execWhileInputsDownload() throws {
        let http = try HTTPTestServer(rate: 400_000)
        try http.put("big.bin", [UInt8](repeating: 7, count: 2_000_000))
        let service = try ServiceProcess()
        let pod = try PodProcess(service: service, workflow: "wf-early", task: "t", options: ["--input", http.url("big.bin")], command: ["echo", "done"])
        #expect(service.waitFor("wf-early", "t") { $0.contains { $0.Text.hasPrefix("Downloading") } })
        let exec = try Shell.run(OsmoBinary.path, ["exec", "wf-early", "t", "--service", service.url, "--", "echo", "inside"], stdin: "")
        let answered = Double(Clock.wall.seconds % 86400)
        #expect(exec.status == 0, "\(exec.stderr)")
        #expect(exec.stdout.contains("inside"))
        #expect(pod.wait(timeout: 60) == 0, "\(pod.output.split(separator: "\n").joined(separator: " | ")) user: \(text(of: Path.join(pod.podDirectory, "user-container.log")))")
        let gathered = service.records("wf-early", "t").first { $0.Text == "All Inputs Gathered" }
        #expect((gathered?.seconds ?? 0) > answered - 1, "inputs were complete before the exec session")
    }

    /// 100 MB through a TCP port-forward to an echo server in the task, both ways, with a
    /// half-close at the end; checksums compared.
    @Test func tcpPortForwardMovesHundredMegabytes() throws {
        let scratch = Scratch()
        let (echo, echoPort) = try ServerScripts.start("peers.py", ["tcp-server"], scratch: scratch)
        defer { echo.signal(SIGKILL); _ = try? echo.wait() }
        let service = try ServiceProcess()
        let pod = try Self.runningTask(service, "wf-tcp")
        defer { pod.terminate() }
        let forward = try BackgroundCommand(OsmoBinary.path, ["port-forward", "wf-tcp", "t", "--service", service.url, "--port", "0:\(echoPort)"])
        defer { forward.kill() }
        let local = try #require(forward.waitForLine(prefix: "Forwarding 127.0.0.1:").flatMap { line in
            Int(line.split(separator: " ")[1].split(separator: ":")[1])
        })
        let client = try Shell.run(Python.path, [ServerScripts.path("peers.py"), "tcp-client", "--port", "\(local)", "--bytes", "100000000"])
        #expect(client.status == 0, "\(client.stdout) \(client.stderr)")
        #expect(client.stdout.hasPrefix("ok "))
    }

    @Test func udpPortForward() throws {
        let scratch = Scratch()
        let (echo, echoPort) = try ServerScripts.start("peers.py", ["udp-server"], scratch: scratch)
        defer { echo.signal(SIGKILL); _ = try? echo.wait() }
        let service = try ServiceProcess()
        let pod = try Self.runningTask(service, "wf-udp")
        defer { pod.terminate() }
        let forward = try BackgroundCommand(OsmoBinary.path, ["port-forward", "wf-udp", "t", "--service", service.url, "--udp", "--port", "0:\(echoPort)"])
        defer { forward.kill() }
        let local = try #require(forward.waitForLine(prefix: "Forwarding 127.0.0.1:").flatMap { line in
            Int(line.split(separator: " ")[1].split(separator: ":")[1])
        })
        let client = try Shell.run(Python.path, [ServerScripts.path("peers.py"), "udp-client", "--port", "\(local)", "--count", "20"])
        #expect(client.status == 0, "\(client.stdout) \(client.stderr)")
        #expect(client.stdout.hasPrefix("ok"))
    }

    /// A websocket through the webserver path: frames keep their type, headers are forwarded.
    @Test func websocketThroughWebserver() throws {
        let scratch = Scratch()
        let (echo, echoPort) = try ServerScripts.start("peers.py", ["ws-server"], scratch: scratch)
        defer { echo.signal(SIGKILL); _ = try? echo.wait() }
        let service = try ServiceProcess()
        let pod = try Self.runningTask(service, "wf-web")
        defer { pod.terminate() }
        let client = try Shell.run(Python.path, [ServerScripts.path("peers.py"), "ws-webserver", "--service", service.url, "--workflow", "wf-web", "--task", "t", "--port", echoPort])
        #expect(client.status == 0, "\(client.stdout) \(client.stderr)")
        #expect(client.stdout.hasPrefix("ok"))
    }
}

/// Reads what a pseudo-terminal shows.
struct PTYScreen {
    let fd: Int32
    var bytes: [UInt8] = []
    var text: String { String(decoding: bytes, as: UTF8.self) }

    init(fd: Int32) { self.fd = fd }

    /// Waits until the screen (since the last match) contains `needle`.
    mutating func waitFor(_ needle: String, timeout: Double = 20) -> Bool {
        let deadline = Clock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Clock.now < deadline {
            if let range = text.firstRange(of: needle) {
                bytes = Array(text[range.upperBound...].utf8)
                return true
            }
            guard (try? Poll.wait(fd, events: Int16(POLLIN), timeoutMilliseconds: 200)) == true else { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { bytes += buffer[0..<n] } else if n == 0 || errno != EINTR { usleep(50_000) }
        }
        return false
    }

    func type(_ keys: String) {
        try? FileSystem.writeAll(fd, keys, what: "pty")
    }
}

/// A long-running command whose output is collected in a file.
final class BackgroundCommand {
    let scratch = Scratch("osmo-bg")
    let child: ChildProcess

    init(_ executable: String, _ arguments: [String]) throws {
        let fd = open(scratch.at("out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(fd) }
        child = try ChildProcess.spawn(executable: executable, arguments: [executable] + arguments, environment: ChildProcess.currentEnvironment, stdout: fd, stderr: fd)
    }

    var output: String { text(of: scratch.at("out")) }

    func waitForLine(prefix: String, timeout: Double = 30) -> String? {
        let deadline = Clock.now + timeout
        while Clock.now < deadline {
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
            usleep(20_000)
        }
        return nil
    }

    func kill() {
        child.signal(SIGKILL)
        _ = try? child.wait()
    }
}
