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

        init() throws {
            try FileSystem.makeDirectory(scratch.at("state"), mode: 0o755)
            let fd = open(scratch.at("out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            defer { close(fd) }
            child = try ChildProcess.spawn(
                executable: Python.path, arguments: ["python3", ServerScripts.path("ref_service.py"), "--port", "0", "--state", scratch.at("state")],
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
