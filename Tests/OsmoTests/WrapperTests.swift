import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem
import Testing

/// The wrapper as a real process against a fake ctrl that speaks the reference's bytes.
@Suite struct WrapperTests {
    @Test func streamsLinesInOrderThenFinishes() throws {
        let script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf 'no newline'"
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sh", "-c", script])
        let final = try ctrl.readUntilFinished()
        #expect(final?.type == .execFinished)
        #expect(ctrl.outLines == ["out1", "out2", "out3", "no newline"])
        #expect(ctrl.errLines == ["err1", "err2", "err3"])
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(0))
        // Echoed for `kubectl logs`.
        #expect(wrapper.stdout == "out1\nout2\nout3\nno newline")
        #expect(wrapper.stderr.contains("err1\nerr2\nerr3\n"))
    }

    @Test func failingCommandReportsExitStatus() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sh", "-c", "exit 3"])
        let final = try ctrl.readUntilFinished()
        #expect(final == SocketMessage(.execFailed, messageErr: "Command failed with error: exit status 3\n"))
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(3))
    }

    @Test func killedCommandIs128PlusSignal() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sh", "-c", "kill -9 $$"])
        #expect(try ctrl.readUntilFinished() == SocketMessage(.execFailed, messageErr: "Command failed with error: signal: killed\n"))
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(137))
    }

    @Test func commandNotFound() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["no-such-program-osmo"])
        let final = try ctrl.readUntilFinished()
        #expect(final == SocketMessage(.execFailed, messageErr: "Command failed with error: exec: \"no-such-program-osmo\": executable file not found in $PATH\n"))
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(127))
        #expect(wrapper.stderr.contains("osmo: exec: \"no-such-program-osmo\": executable file not found in $PATH"))
    }

    /// The user bin dir is on PATH: a program installed there is found by name.
    @Test func userBinDirIsOnPath() throws {
        let s = Scratch()
        try s.write("usr-bin/osmo-test-tool", "#!/bin/sh\necho from user bin\n", mode: 0o755)
        let ctrl = try FakeCtrl(path: s.at("data.sock"))
        let wrapper = try WrapperProcess.start(s, command: ["osmo-test-tool"])
        try ctrl.accept()
        try ctrl.sendExecStart()
        #expect(try ctrl.readUntilFinished()?.type == .execFinished)
        #expect(ctrl.outLines == ["from user bin"])
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(0))
    }

    /// SIGTERM reaches the command's process group; the wrapper reports and exits with its status.
    @Test func sigtermIsForwardedToTheCommand() throws {
        let s = Scratch()
        let ctrl = try FakeCtrl(path: s.at("data.sock"))
        let marker = s.at("got-term")
        let script = "trap 'echo term > \(marker); exit 7' TERM; echo ready; while :; do sleep 0.05; done"
        let wrapper = try WrapperProcess.start(s, command: ["/bin/sh", "-c", script])
        try ctrl.accept()
        try ctrl.sendExecStart()
        #expect(try ctrl.read { $0.type == .messageOut && $0.messageOut == "ready" })
        wrapper.child.signal(SIGTERM)
        #expect(try ctrl.readUntilFinished() == SocketMessage(.execFailed, messageErr: "Command failed with error: exit status 7\n"))
        #expect(try wrapper.child.wait() == .exited(7))
        #expect(FileSystem.exists(marker))
    }

    /// A command that ignores SIGTERM is killed after the grace period.
    @Test func graceThenSigkill() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"])
        #expect(try ctrl.read { $0.messageOut == "ready" })
        wrapper.child.signal(SIGTERM)
        #expect(try ctrl.readUntilFinished() == SocketMessage(.execFailed, messageErr: "Command failed with error: signal: killed\n"))
        #expect(try wrapper.child.wait() == .exited(137))
    }

    /// ctrl dies mid-run: the command is stopped and the wrapper fails with 69.
    @Test func ctrlGoneStopsCommand() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sh", "-c", "echo ready; exec sleep 60"])
        #expect(try ctrl.read { $0.messageOut == "ready" })
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(ExitCode.ctrlUnavailable.rawValue))
        #expect(wrapper.stderr.contains("osmo-ctrl closed the connection"))
    }

    /// A malformed checkpoint spec (and -enableRsync, not built) is reported in the task log, not
    /// silently dropped, and does not stop the command.
    @Test func invalidCheckpointIsReported() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/true"], extra: ["-checkpoint", "/out;s3://b/p;soon;.*"])
        #expect(try ctrl.readUntilFinished()?.type == .execFinished)
        #expect(ctrl.received.contains { $0.type == .messageOps && $0.messageOps.contains("invalid -checkpoint '/out;s3://b/p;soon;.*'") })
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(0))
    }

    @Test func ctrlFailedBeforeStartExitsZero() throws {
        let s = Scratch()
        let ctrl = try FakeCtrl(path: s.at("data.sock"))
        let wrapper = try WrapperProcess.start(s, command: ["/bin/true"])
        try ctrl.accept()
        try ctrl.sendRaw(#"{"Type":"CtrlFailed","MessageOut":"","MessageErr":"","MessageOps":"","OutputFolder":"","RouterAddress":"","Command":"","TaskPort":0,"RsyncRunning":false}"#)
        #expect(try wrapper.child.wait() == .exited(0))
    }

    /// Garbage, an unknown type and half-split messages do not disturb the wrapper.
    @Test func hostileBytesFromCtrlAreIgnored() throws {
        let s = Scratch()
        let ctrl = try FakeCtrl(path: s.at("data.sock"))
        let wrapper = try WrapperProcess.start(s, command: ["/bin/echo", "still fine"])
        try ctrl.accept()
        try ctrl.sendRaw("\u{0}\u{7f}garbage\n{\"Type\":\"FromTheFuture\"}[1,2]\n{\"Type\":")
        usleep(50_000)
        try ctrl.sendRaw("\"ExecStart\",\"OutputFolder\":\"\"}")
        #expect(try ctrl.readUntilFinished()?.type == .execFinished)
        #expect(ctrl.outLines == ["still fine"])
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(0))
        #expect(wrapper.stderr.contains("FromTheFuture"))
    }

    /// Lines above 32 KiB arrive in pieces cut on UTF-8 boundaries; nothing is lost.
    @Test func longLinesAreSplitOnCharacterBoundaries() throws {
        let s = Scratch()
        // 40,000 two-byte characters = 80,000 bytes on one line.
        try s.write("long.txt", String(repeating: "é", count: 40_000) + "\nshort\n")
        let ctrl = try FakeCtrl(path: s.at("data.sock"))
        let wrapper = try WrapperProcess.start(s, command: ["/bin/cat", s.at("long.txt")])
        try ctrl.accept()
        try ctrl.sendExecStart()
        #expect(try ctrl.readUntilFinished()?.type == .execFinished)
        let lines = ctrl.outLines
        #expect(lines.count == 4)
        #expect(lines.dropLast().allSatisfy { $0.utf8.count <= 32 * 1024 && !$0.contains("\u{FFFD}") })
        #expect(lines.dropLast().joined() == String(repeating: "é", count: 40_000))
        #expect(lines.last == "short")
        ctrl.close()
        _ = try wrapper.child.wait()
    }

    /// 200,000 lines on both streams: all arrive, in order per stream, none duplicated.
    @Test func manyLinesArriveInOrder() throws {
        let script = "i=0; while [ $i -lt 100000 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done"
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sh", "-c", script])
        #expect(try ctrl.readUntilFinished()?.type == .execFinished)
        #expect(ctrl.outLines == (0..<100_000).map { "o\($0)" })
        #expect(ctrl.errLines == (0..<100_000).map { "e\($0)" })
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(0))
    }

    /// Orphaned grandchildren are reaped (subreaper) and do not hold the task open.
    @Test func orphansAreReapedAndDoNotBlock() throws {
        let script = "(sleep 30 &) ; echo parent done"
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sh", "-c", script])
        #expect(try ctrl.readUntilFinished()?.type == .execFinished)
        #expect(ctrl.outLines == ["parent done"])
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(0))
    }

    @Test func restartFlowStopsAndStartsAgain() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sh", "-c", "echo run; exec sleep 60"])
        #expect(try ctrl.read { $0.messageOut == "run" })
        try ctrl.sendRaw(#"{"Type":"UserStop"}"#)
        #expect(try ctrl.read { $0.type == .userStopFinished })
        try ctrl.sendRaw(#"{"Type":"UserStart"}"#)
        #expect(try ctrl.read { $0.messageOut == "run" })
        #expect(ctrl.outLines == ["run", "run"])
        wrapper.child.signal(SIGTERM)
        #expect(try wrapper.child.wait() == .exited(143))
    }

    /// Waiting for ctrl is a backoff, and gives up after -unixTimeout with the documented code.
    @Test func ctrlNeverComes() throws {
        let s = Scratch()
        let wrapper = try WrapperProcess.start(s, command: ["/bin/true"], extra: ["-unixTimeout", "0"])
        #expect(try wrapper.child.wait() == .exited(ExitCode.ctrlUnavailable.rawValue))
        #expect(wrapper.stderr.contains("did not accept a connection"))
    }

    @Test func ctrlLateIsWaitedFor() throws {
        let s = Scratch()
        let wrapper = try WrapperProcess.start(s, command: ["/bin/echo", "late"])
        usleep(300_000)
        let ctrl = try FakeCtrl(path: s.at("data.sock"))
        try ctrl.accept()
        try ctrl.sendExecStart()
        #expect(try ctrl.readUntilFinished()?.type == .execFinished)
        ctrl.close()
        #expect(try wrapper.child.wait() == .exited(0))
    }
}
