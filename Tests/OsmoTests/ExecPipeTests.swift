import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// `osmo exec` without a terminal is a clean pipe (issue 12 §1–2), as `kubectl exec` without `-t`:
/// bytes exact both ways, stdout and stderr apart, the end of stdin delivered, true exit
/// statuses; a terminal only when asked (`-t`) or when stdin and stdout both are terminals
/// (`RouterTests` covers that path through a real pty). Through the built binary, `osmo pod run`'s
/// service and router, ctrl and the wrapper. Serialized, so that the 100 MB sessions do not
/// all load a busy machine at once.
@Suite(.serialized) struct ExecPipeTests {
    /// `osmo exec WF t --service … <arguments>` under `sh -c` (for redirections); stdin from
    /// `/dev/null` unless the script gives one.
    static func exec(_ service: ServiceProcess, _ workflow: String, _ arguments: String, environment: [String]? = nil, wrapper: String = "") throws -> Finished {
        try Shell.run("/bin/sh", ["-c", "\(wrapper) \(OsmoBinary.path) exec \(workflow) t --service \(service.url) \(arguments)"], environment: environment)
    }

    /// 100 MB each way, exact, and nobody on the way holds the stream in memory: ctrl's and the
    /// client's peak resident memory stay well below the stream's size. (Without pacing, ctrl read
    /// the whole stream from the wrapper into its websocket queue faster than the websocket could
    /// send it, and the close after it waited behind tens of megabytes until the close timeout cut
    /// the stream: issue 14 §5.)
    @Test func hundredMegabytesCrossExactlyBothWaysInBoundedMemory() throws {
        let scratch = Scratch()
        let size = 100_000_000
        try Shell.sh("head -c \(size) /dev/urandom > \(scratch.at("big.bin"))")
        let service = try ServiceProcess()
        let pod = try RouterTests.runningTask(service, "wf-pipe", seconds: 600)
        defer { _ = pod.wait(timeout: 1) }
        let time = "/usr/bin/time -f %M -o"
        let down = try Self.exec(service, "wf-pipe", "-- cat \(scratch.at("big.bin")) > \(scratch.at("down.bin")) 2> \(scratch.at("down.err")) < /dev/null",
                                 wrapper: "\(time) \(scratch.at("down.kib"))")
        #expect(down.status == 0, "\(down.stderr) \(text(of: scratch.at("down.err")))")
        #expect(try Shell.run("/usr/bin/cmp", [scratch.at("big.bin"), scratch.at("down.bin")]).status == 0)
        #expect(text(of: scratch.at("down.err")).isEmpty)
        let up = try Self.exec(service, "wf-pipe", "-- sh -c 'cat > \(scratch.at("up.bin"))' < \(scratch.at("big.bin"))",
                               wrapper: "\(time) \(scratch.at("up.kib"))")
        #expect(up.status == 0, "\(up.stderr)")
        #expect(try Shell.run("/usr/bin/cmp", [scratch.at("big.bin"), scratch.at("up.bin")]).status == 0)
        // Peak resident set sizes, KiB. Half the stream is far above what pacing allows (a few
        // frames in flight over a process's baseline of ~40 MB) and far below the unpaced peak.
        let limit = size / 2 / 1024
        let ctrl = try #require(ProcessMemory.peakKiB(commandContaining: ["osmo_ctrl", pod.podDirectory]), "ctrl not found")
        #expect(ctrl < limit, "ctrl's peak RSS \(ctrl) KiB: the stream was queued in memory")
        for name in ["down.kib", "up.kib"] {
            let client = Int(text(of: scratch.at(name)).split(whereSeparator: \.isWhitespace).last ?? "") ?? 0
            #expect(client > 0 && client < limit, "the client's peak RSS (\(name)) \(client) KiB")
        }
    }

    @Test func streamsStayApartAndTheStatusIsTheCommands() throws {
        let service = try ServiceProcess()
        let pod = try RouterTests.runningTask(service, "wf-streams")
        defer { _ = pod.wait(timeout: 1) }
        let both = try Self.exec(service, "wf-streams", "-- sh -c 'echo out; echo err >&2; printf \"no newline\"; exit 3' < /dev/null")
        #expect(both.status == 3)
        #expect(both.stdout == "out\nno newline")
        #expect(both.stderr == "err\n")
        // Piped input is the command's stdin, not typed at a shell: no echo, no prompt, its end
        // delivered (cat ends), and a clean exit stays 0.
        let piped = try Self.exec(service, "wf-streams", "-- sh -c 'cat; echo end' < /dev/null")
        #expect(piped.status == 0 && piped.stdout == "end\n", "\(piped.stdout.debugDescription) \(piped.stderr)")
        let script = try Self.exec(service, "wf-streams", "-- sh -c 'cat; echo end' <<'EOF'\na\nb\nEOF")
        #expect(script.status == 0 && script.stdout == "a\nb\nend\n", "\(script.stdout.debugDescription) \(script.stderr)")
        // A script piped into a shell runs as a script.
        let shell = try Self.exec(service, "wf-streams", "-- sh <<'EOF'\necho one\nexit 5\nEOF")
        #expect(shell.status == 5 && shell.stdout == "one\n", "\(shell.stdout.debugDescription)")
    }

    @Test func exitStatusesAreAlwaysTrue() throws {
        let service = try ServiceProcess()
        let pod = try RouterTests.runningTask(service, "wf-status")
        defer { _ = pod.wait(timeout: 1) }
        let missing = try Self.exec(service, "wf-status", "-- no-such-command-osmo < /dev/null")
        #expect(missing.status == 127 && missing.stderr.contains("no-such-command-osmo: command not found"), "\(missing.stderr)")
        let entry = try Self.exec(service, "wf-status", "--entry no-such-entry-osmo < /dev/null")
        #expect(entry.status == 127 && entry.stderr.contains("no-such-entry-osmo: command not found"), "\(entry.stderr)")
        let killed = try Self.exec(service, "wf-status", "-- sh -c 'kill -9 $$' < /dev/null")
        #expect(killed.status == 137)
        // On a terminal (-t without one here): CR LF, merged streams, the status still true.
        let terminal = try Self.exec(service, "wf-status", "-t -- sh -c 'echo on-a-tty; exit 4' < /dev/null")
        #expect(terminal.status == 4, "\(terminal.stdout.debugDescription) \(terminal.stderr)")
        #expect(terminal.stdout.contains("on-a-tty\r\n"))
    }

    /// The pod dies under a running session: an error and 255, never a silent 0.
    @Test func aCutSessionIsAnError() throws {
        let service = try ServiceProcess()
        let pod = try RouterTests.runningTask(service, "wf-cut", seconds: 300)
        defer { _ = pod.wait(timeout: 1) }
        let client = Scratch()
        let marker = client.at("session-started")
        let child = try ChildProcess.spawn(
            executable: "/bin/sh", arguments: ["sh", "-c", "\(OsmoBinary.path) exec wf-cut t --service \(service.url) -- sh -c 'touch \(marker); sleep 120' < /dev/null > \(client.at("out")) 2> \(client.at("err"))"],
            environment: ChildProcess.currentEnvironment)
        let deadline = Clock.now + patience(30)
        while !FileSystem.exists(marker) && Clock.now < deadline { usleep(50_000) }
        #expect(FileSystem.exists(marker), "\(text(of: client.at("err"))) \(pod.output)")
        // ctrl and the wrapper of that pod (their command lines name its socket) die at once.
        _ = try Shell.run("/usr/bin/pkill", ["-KILL", "-f", Path.join(pod.podDirectory, "data/socket")])
        let status = try child.wait().exitStatus
        #expect(status == 255, "\(text(of: client.at("err")))")
        #expect(text(of: client.at("err")).contains("before the command reported its exit status"))
    }

    /// A wrapper that answers as the reference's does (terminal only): the client says so and
    /// goes on in terminal mode.
    @Test func aReferenceWrapperFallsBackToATerminalWithANotice() throws {
        let service = try ServiceProcess()
        let pod = try PodProcess(podArguments: ["--service", service.url, "--refresh-token-file", service.tokenFile, "--workflow", "wf-legacy", "--task", "t"],
                                 command: ["sh", "-c", "echo up; sleep 60"], environment: ChildProcess.currentEnvironment + ["OSMO_EXEC_TERMINAL_ONLY=1"])
        defer { _ = pod.wait(timeout: 1) }
        #expect(service.waitFor("wf-legacy", "t") { $0.contains { $0.Text == "up" } })
        let result = try Self.exec(service, "wf-legacy", "-- sh -c 'echo out; echo err >&2' < /dev/null")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("out\r\n") && result.stdout.contains("err\r\n"), "\(result.stdout.debugDescription)")
        #expect(result.stderr.contains("terminal only"), "\(result.stderr)")
    }
}
