import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// Logs appear when they happen (issue 12 §3): with stdout redirected to a file, which is what
/// `kubectl logs osmo-ctrl` reads, ctrl's lines, the command's lines relayed by ctrl, `osmo pod
/// run`'s view and `osmo service`'s echo are written as they are produced, not at exit. Each
/// check waits for a line while the task is still running (it sleeps a minute afterwards).
@Suite struct LiveOutputTests {
    static func waitFor(_ wanted: String, in file: String, timeout: Double = 20) -> Bool {
        let deadline = Clock.now + patience(timeout)
        while Clock.now < deadline {
            if text(of: file).contains(wanted) { return true }
            usleep(50_000)
        }
        return false
    }

    @Test func ctrlAndThePodViewWriteLinesAsTheyHappen() throws {
        let pod = try PodProcess(podArguments: ["--no-service"], command: ["sh", "-c", "echo early-line; sleep 60"])
        defer {
            pod.terminate()
            _ = pod.wait(timeout: patience(30))
        }
        let file = pod.scratch.at("pod.out")
        #expect(Self.waitFor("All Inputs Gathered", in: file), "\(pod.output)")
        #expect(Self.waitFor("[task] early-line", in: file), "\(pod.output)")
    }

    @Test func theServiceEchoesLinesAsTheyArrive() throws {
        let scratch = Scratch()
        try scratch.write("refresh_token", "live-refresh-token-\(getpid())\n")
        let tokenFile = scratch.at("refresh_token")
        let out = scratch.at("service.out")
        let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let echo = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo", "service", "--listen", "127.0.0.1:0", "--log-dir", scratch.at("logs"), "--refresh-token-file", tokenFile],
            environment: ChildProcess.currentEnvironment, stdout: fd, stderr: fd)
        close(fd)
        defer {
            echo.signal(SIGKILL)
            _ = try? echo.wait()
        }
        #expect(Self.waitFor("listening ", in: out))
        let line = text(of: out).split(separator: "\n").first { $0.hasPrefix("listening ") } ?? ""
        let port = line.split(separator: ":").last.map(String.init) ?? ""
        let pod = try PodProcess(url: "http://127.0.0.1:\(port)", tokenFile: tokenFile, workflow: "wf-live", task: "t", options: [],
                                 command: ["sh", "-c", "echo service-sees-this; sleep 60"])
        defer {
            pod.terminate()
            _ = pod.wait(timeout: patience(30))
        }
        #expect(Self.waitFor("service-sees-this", in: out), "\(text(of: out)) \(pod.output)")
    }

    /// Issue 14 §1: nothing on the service path waits for ctrl's stdout. With ctrl's stdout a
    /// pipe nobody reads (a stalled container log pipe), a 200,000-line flood still reaches the
    /// service whole while the pipe stays full; once it is read, whatever ctrl could not keep
    /// for it is counted there. (ctrl and the wrapper as separate processes, as in a pod: the
    /// wrapper's own output goes elsewhere.)
    @Test func aBlockedStdoutStopsNothing() throws {
        let service = try ServiceProcess()
        let scratch = Scratch()
        let lone = try LoneCtrl(scratch, workflow: "wf-blocked", arguments: [
            "-groupName", "g", "-host", "127.0.0.1", "-port", "\(service.port)",
            "-scheme", "ws", "-refreshScheme", "http", "-refreshToken", service.tokenFile,
        ])
        let ctrl = lone.child, socket = lone.socket
        let log = open(scratch.at("wrapper.out"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let wrapper = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo_exec", "-socketPath", socket, "-commands", "sh", "-args", "-c", "-args", "seq 1 200000; echo flood-end"],
            environment: ChildProcess.currentEnvironment, stdout: log, stderr: log)
        close(log)
        // The pipe holds 64 KiB: the flood arrives while it stays full.
        let stored = Path.join(service.logs, "wf-blocked", "t.jsonl")
        let deadline = Clock.now + patience(120)
        while !text(of: stored).contains("\"Text\":\"flood-end\"") && Clock.now < deadline { usleep(100_000) }
        #expect(text(of: stored).split(separator: "\n").filter { $0.contains("\"IOType\":\"STDOUT\"") }.count == 200_001, "\(text(of: scratch.at("wrapper.out")).suffix(500))")
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(lone.output, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        #expect(try ctrl.wait().exitStatus == 0)
        #expect(try wrapper.wait().exitStatus == 0)
        let rendered = String(decoding: output, as: UTF8.self)
        let shown = rendered.split(separator: "\n").filter { $0.hasPrefix("[t] ") }.count
        if shown < 200_001 {
            #expect(rendered.contains("lines were not shown here while stdout was blocked"), "\(rendered.suffix(500))")
        }
    }
}
