import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// ctrl against `Tests/Servers/ref_service.py`, a stand-in for the real OSMO service written
/// from the reference service's code (not ours): double-encoded TEXT log frames, the PENDING
/// token answer, actions in BINARY and in TEXT frames, the reference router's pairing.
@Suite struct WireCompatibilityTests {
    final class ReferenceService {
        let scratch = Scratch("osmo-ref")
        let child: ChildProcess
        let port: Int
        var state: String { scratch.at("state") }

        init(_ extra: [String] = []) throws {
            try FileSystem.makeDirectory(scratch.at("state"), mode: 0o755)
            let fd = open(scratch.at("out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            defer { close(fd) }
            child = try ChildProcess.spawn(
                executable: Python.path, arguments: ["python3", ServerScripts.path("ref_service.py"), "--port", "0", "--state", scratch.at("state")] + extra,
                environment: ChildProcess.currentEnvironment, stdout: fd, stderr: fd)
            let deadline = Clock.now + 30
            var found = 0
            while found == 0 && Clock.now < deadline {
                if let line = text(of: scratch.at("out")).split(separator: "\n").first(where: { $0.contains("\"port\"") }) {
                    found = Int(line.filter(\.isNumber)) ?? 0
                } else {
                    usleep(20_000)
                }
            }
            guard found > 0 else { throw OsmoError(.io, "ref_service.py did not start: \(text(of: scratch.at("out")))") }
            port = found
        }

        deinit {
            child.signal(SIGKILL)
            _ = try? child.wait()
        }

        var url: String { "http://127.0.0.1:\(port)" }
        func file(_ name: String) -> String { text(of: Path.join(state, name)) }

        /// A counter of `/test/stats`.
        func stat(_ name: String) -> Int {
            let result = try? Shell.run(Python.path, ["-c", "import json,sys,urllib.request;print(json.load(urllib.request.urlopen(sys.argv[1])).get(sys.argv[2], 0))", "\(url)/test/stats", name])
            return Int(result?.stdout.trimmingSpaces() ?? "") ?? -1
        }

        /// Waits until `/test/stats`' `name` reaches `count`.
        func waitForStat(_ name: String, atLeast count: Int, timeout: Double) -> Bool {
            let deadline = Clock.now + patience(timeout)
            while Clock.now < deadline {
                if stat(name) >= count { return true }
                usleep(100_000)
            }
            return false
        }

        /// Sends an action on the task's logger socket (BINARY, or TEXT as the real service's
        /// send_text of a str would).
        func action(_ json: String, text: Bool) throws {
            let result = try Shell.run(Python.path, ["-c", """
                import sys, urllib.request
                urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method='POST', headers={'Content-Type': 'application/json'}))
                """, "\(url)/test/action/wf-ref/t\(text ? "?frame=text" : "")", json])
            guard result.status == 0 else { throw OsmoError(.io, "action: \(result.stderr)") }
        }

        /// The client side of an exec session on the reference router: prints what the shell
        /// wrote, then "closed" when the router closed the connection.
        func execClient(key: String) throws -> Finished {
            try Shell.run(Python.path, ["-c", """
                import asyncio, sys, aiohttp
                async def main():
                    async with aiohttp.ClientSession() as s:
                        ws = await s.ws_connect(sys.argv[1])
                        await ws.send_bytes(b'{"Rows":24,"Cols":80}')
                        out = b''
                        while True:
                            msg = await ws.receive(timeout=20)
                            if msg.type == aiohttp.WSMsgType.BINARY:
                                out += msg.data
                            else:
                                break
                        print(out.decode(errors='replace'))
                        print('closed')
                asyncio.run(main())
                """, "ws://127.0.0.1:\(port)/api/router/exec/wf-ref/client/\(key)"])
        }
    }

    @Test func ctrlSpeaksTheReferenceServiceProtocol() throws {
        let service = try ReferenceService()
        try "1".write(toFile: Path.join(service.state, "pending_count"))
        let pod = try PodProcess(
            referenceURL: service.url, tokenFile: Path.join(service.state, "refresh_token"), workflow: "wf-ref", task: "t",
            command: ["sh", "-c", "echo 'hello <&> \"q\"'; echo oops >&2; sleep 6; echo bye"])
        // Wait for the connection, then two exec sessions: one action in a BINARY frame, one in TEXT.
        let deadline = Clock.now + 30
        while !service.file("frames.jsonl").contains("hello") && Clock.now < deadline { usleep(50_000) }
        for (index, asText) in [false, true].enumerated() {
            let key = "EXEC-ref\(index)"
            try service.action("{\"action\":\"exec\",\"router_address\":\"ws://127.0.0.1:\(service.port)\",\"key\":\"\(key)\",\"cookie\":\"c\",\"entry_command\":\"sh -c 'echo EXEC_$((40+\(index)))'\"}", text: asText)
            let client = try service.execClient(key: key)
            #expect(client.stdout.contains("EXEC_\(40 + index)"), "\(client.stdout) \(client.stderr.suffix(300)) pod: \(pod.output) ref: \(text(of: service.scratch.at("out")).suffix(1500))")
            // The session ends for the client when the shell exits (the router does not pass
            // empty frames on: ctrl must close).
            #expect(client.stdout.contains("closed"))
        }
        #expect(pod.wait(timeout: 60) == 0, "\(pod.output)")

        let frames = service.file("frames.jsonl")
        #expect(frames.contains("\"Text\": \"hello <&> \\\"q\\\"\"") || frames.contains("\"Text\":\"hello <&> \\\"q\\\"\""), "\(frames)")
        #expect(frames.contains("oops") && frames.contains("bye"))
        #expect(frames.contains("LOG_DONE"))
        #expect(service.file("errors.jsonl").isEmpty, "\(service.file("errors.jsonl"))")
        // Raw frames: TEXT, a JSON string literal holding the object, then a newline; Go's
        // escaping of <, >, &.
        let raw = service.file("raw_frames.jsonl")
        #expect(raw.contains("\"frame_type\": \"text\"") || raw.contains("\"frame_type\":\"text\""))
        #expect(!raw.contains("\"frame_type\": \"binary\"") && !raw.contains("\"frame_type\":\"binary\""))
        #expect(raw.contains("\\\\\\\\u003c\\\\\\\\u0026\\\\\\\\u003e"), "\(raw.prefix(2000))")
        #expect(pod.output.contains("Waiting for task status to update to RUNNING."))
    }
}

extension WireCompatibilityTests {
    /// PROTOCOL.md §3 and the reference's `main`: the command starts only once the service has
    /// accepted the task. While the token endpoint answers PENDING the command does not run;
    /// when it turns RUNNING, it does, and its output reaches the service.
    @Test func commandStartsOnlyOnceTheTaskIsRunning() throws {
        let service = try ReferenceService()
        try "1000".write(toFile: Path.join(service.state, "pending_count"))
        let marker = service.scratch.at("started")
        let pod = try PodProcess(
            referenceURL: service.url, tokenFile: Path.join(service.state, "refresh_token"), workflow: "wf-ref", task: "t",
            command: ["sh", "-c", "touch \(marker); echo ran"])
        // Two PENDING answers: ctrl is retrying, the inputs (none) are done, the command waits.
        #expect(service.waitForStat("refresh_requests", atLeast: 2, timeout: 30), "\(pod.output)")
        #expect(!FileSystem.exists(marker), "the command started while the task was PENDING")
        try "0".write(toFile: Path.join(service.state, "pending_count"))
        #expect(pod.wait(timeout: patience(90)) == 0, "\(pod.output)")
        #expect(FileSystem.exists(marker))
        #expect(service.file("frames.jsonl").contains("ran"))
    }

    /// A refresh token the service refuses: the command never runs (its output could reach no
    /// one), and ctrl says why in its own output. The API service answers 400 with a message,
    /// the standalone logger a bare 500 (COMPATIBILITY.md §4).
    @Test(arguments: ["400", "500"])
    func refusedRefreshTokenNeverStartsTheCommand(status: String) throws {
        let service = try ReferenceService(["--bad-token-status", status])
        try service.scratch.write("wrong-token", String(repeating: "w", count: 43))
        let marker = service.scratch.at("started")
        let pod = try PodProcess(
            referenceURL: service.url, tokenFile: service.scratch.at("wrong-token"), workflow: "wf-ref", task: "t",
            command: ["sh", "-c", "touch \(marker)"])
        #expect(service.waitForStat("refresh_requests", atLeast: 2, timeout: 30), "\(pod.output)")
        #expect(!FileSystem.exists(marker), "the command started without the service")
        #expect(pod.output.contains(status == "400" ? "refused the refresh token" : "HTTP 500"), "\(pod.output)")
        // SIGTERM ends the wait (the pod is being deleted): no hang, no command.
        pod.child.signal(SIGTERM)
        #expect(pod.wait(timeout: patience(30)) != 0, "\(pod.output)")
        #expect(!FileSystem.exists(marker))
    }
}

extension WireCompatibilityTests {
    /// Token refresh for each service generation (`ref_service.py --generation`, written from
    /// each tag's `auth_service.py` and its Envoy configuration): a 6.1 service answers the POST
    /// with 405 and takes a GET with `?refresh_token=`, and expects the JWT raw in
    /// `x-osmo-auth`; 6.2 and later take the POST and `Authorization: Bearer`. `-tokenHeader`,
    /// when given, names the header whatever the generation.
    @Test(arguments: [
        (generation: "6.1", tokenHeader: nil as String?, header: "x-osmo-auth", kind: "raw", method: "GET"),
        (generation: "6.1", tokenHeader: "X-Custom-Token", header: "x-custom-token", kind: "raw", method: "GET"),
        (generation: "6.2", tokenHeader: nil, header: "authorization", kind: "bearer", method: "POST"),
        (generation: "head", tokenHeader: nil, header: "authorization", kind: "bearer", method: "POST"),
    ])
    func tokenRefreshForEveryServiceGeneration(generation: String, tokenHeader: String?, header: String, kind: String, method: String) throws {
        let service = try ReferenceService(["--generation", generation] + (tokenHeader.map { ["--token-header", $0] } ?? []))
        let options = tokenHeader.map { ["--ctrl-arg", "-tokenHeader", "--ctrl-arg", $0] } ?? []
        let pod = try PodProcess(url: service.url, tokenFile: Path.join(service.state, "refresh_token"), workflow: "wf-ref", task: "t",
                                 options: options, command: ["echo", "generation \(generation)"])
        #expect(pod.wait(timeout: patience(60)) == 0, "\(pod.output)")
        #expect(service.file("frames.jsonl").contains("generation \(generation)"))
        let auth = service.file("auth.jsonl").split(separator: "\n").map(String.init)
        let refreshes = auth.filter { $0.contains("refresh_token") && ($0.contains("\"status\": 200") || $0.contains("\"status\":200")) }
        #expect(!refreshes.isEmpty && refreshes.allSatisfy { $0.contains("\"method\": \"\(method)\"") || $0.contains("\"method\":\"\(method)\"") }, "\(auth)")
        let sockets = auth.filter { $0.contains("/api/logger/") }
        #expect(sockets.contains { ($0.contains("\"header_name\": \"\(header)\"") || $0.contains("\"header_name\":\"\(header)\"")) && $0.contains(kind) && $0.contains("101") }, "\(auth)")
        if generation == "6.1" {
            // One POST answered 405, then only GETs.
            #expect(service.stat("refresh_405") == 1, "\(auth)")
        }
    }
}

extension WireCompatibilityTests {
    /// COMPATIBILITY.md §4: actions come in BINARY frames at any moment, also while ctrl floods
    /// the logger; the service drops a peer whose pong is 20 s late (its pings come every 20 s,
    /// here every 2 s so that several fall in the flood); it stores what Redis keeps (1,000 lines
    /// per task). An exec pushed during a 50,000-line flood is served, the link is never dropped,
    /// every line arrives once, in order, and the capped store holds the newest 1,000. (A slow
    /// service, whose pace delays the pongs, is issue 14's.)
    @Test func actionsAreServedWhileLogsFlood() throws {
        let service = try ReferenceService(["--ping-interval", "2", "--ping-timeout", "20"])
        let pod = try PodProcess(
            referenceURL: service.url, tokenFile: Path.join(service.state, "refresh_token"), workflow: "wf-ref", task: "t",
            command: ["sh", "-c", "seq 1 50000; sleep 8; echo flood-done"])
        #expect(service.waitForStat("log_lines", atLeast: 1000, timeout: 60))
        let key = "EXEC-flood"
        try service.action("{\"action\":\"exec\",\"router_address\":\"ws://127.0.0.1:\(service.port)\",\"key\":\"\(key)\",\"cookie\":\"c\",\"entry_command\":\"echo EXEC_DURING_FLOOD\"}", text: false)
        let client = try service.execClient(key: key)
        #expect(client.stdout.contains("EXEC_DURING_FLOOD"), "\(client.stdout) \(client.stderr.suffix(300))")
        #expect(pod.wait(timeout: patience(120)) == 0, "\(pod.output)")
        #expect(service.stat("dropped_ping_timeout") == 0)
        #expect(service.stat("pings_sent") > 0 && service.stat("pongs_received") > 0)
        struct Frame: Decodable { var Text: String?; var IOType: String? }
        let lines = service.file("frames.jsonl").split(separator: "\n").compactMap { line -> String? in
            guard let frame = try? JSONDecoder().decode(Frame.self, from: Data(line.utf8)), frame.IOType == "STDOUT" else { return nil }
            return frame.Text
        }
        #expect(lines == (1...50000).map(String.init) + ["flood-done"], "\(lines.count) lines")
        _ = service.stat("log_lines") // brings the Redis view up to date
        let stored = text(of: Path.join(service.state, "redis/wf-ref/t.jsonl")).split(separator: "\n")
        #expect(stored.count == 1000, "\(stored.count)")
        // The newest: the flood's tail, its last line, then ctrl's upload lines.
        #expect(stored.contains { $0.contains("\"text\": \"flood-done\"") } && stored.contains { $0.contains("\"text\": \"50000\"") }, "\(stored.suffix(5))")
    }
}

extension WireCompatibilityTests {
    /// Issue 14 §5: through the reference router, which ends a pair as soon as one side closes,
    /// the last bytes a short command printed still reach the client: 1,000 sessions of
    /// `sh -c 'echo X'` (four at a time), each must show its X before the router closes it. (Our
    /// ctrl used to cancel its websocket reader when the command ended; that ended WSCore's
    /// close handshake early, and the channel was closed with the last frame still queued.)
    @Test func aShortCommandsLastBytesAlwaysArrive() throws {
        let service = try ReferenceService()
        let pod = try PodProcess(
            referenceURL: service.url, tokenFile: Path.join(service.state, "refresh_token"), workflow: "wf-ref", task: "t",
            command: ["sh", "-c", "echo up; sleep 3600"])
        defer { pod.terminate() }
        let deadline = Clock.now + patience(60)
        while !service.file("frames.jsonl").contains("\"up\"") && Clock.now < deadline { usleep(50_000) }
        let result = try Shell.run(Python.path, ["-c", """
            import asyncio, json, sys, aiohttp
            base, sessions, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
            async def one(s, key):
                action = {"action": "exec", "router_address": base.replace("http", "ws"), "key": key, "cookie": "c",
                          "entry_command": "sh -c 'echo X'"}
                async with s.post(f"{base}/test/action/wf-ref/t", data=json.dumps(action)) as r:
                    assert r.status == 200, r.status
                ws = await s.ws_connect(f"{base.replace('http', 'ws')}/api/router/exec/wf-ref/client/{key}")
                await ws.send_bytes(b'{"Rows":24,"Cols":80}')
                out = b''
                while True:
                    msg = await ws.receive(timeout=60)
                    if msg.type != aiohttp.WSMsgType.BINARY:
                        break
                    out += msg.data
                await ws.close()
                return b'X' in out
            async def worker(s, w, failed):
                for i in range(w, sessions, workers):
                    if not await one(s, f"EXEC-short-{i}"):
                        failed.append(i)
            async def main():
                failed = []
                async with aiohttp.ClientSession() as s:
                    await asyncio.gather(*(worker(s, w, failed) for w in range(workers)))
                print(f"{sessions - len(failed)} of {sessions} sessions showed X; cut: {sorted(failed)[:20]}")
            asyncio.run(main())
            """, service.url, "1000", "4"])
        #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        #expect(result.stdout.hasPrefix("1000 of 1000 "), "\(result.stdout)")
    }
}

extension PodProcess {
    /// A pod against any service URL (the reference stand-in).
    convenience init(referenceURL: String, tokenFile: String, workflow: String, task: String, command: [String]) throws {
        try self.init(url: referenceURL, tokenFile: tokenFile, workflow: workflow, task: task, options: [], command: command)
    }
}

extension String {
    func write(toFile path: String) throws {
        try FileSystem.writeAtomically(Array(utf8), to: path)
    }
}
