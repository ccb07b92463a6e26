import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem
import Testing

/// `UserExecStart` → the wrapper dials back and serves a shell on a real pseudo-terminal, with the
/// reference's sub-connection bytes (size first, raw keystrokes, in-band resize records).
@Suite struct ExecSessionTests {
    /// Reads from `socket` until `text` has been seen (or EOF / 20 s); returns everything read.
    func read(_ socket: UnixSocket, until text: String) throws -> String {
        var seen: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Clock.now + 20
        while Clock.now < deadline {
            guard try Poll.wait(socket.fd, events: Int16(POLLIN), timeoutMilliseconds: 200) else { continue }
            let n = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            if n <= 0 { break }
            seen += buffer[0..<n]
            if String(decoding: seen, as: UTF8.self).contains(text) { break }
        }
        return String(decoding: seen, as: UTF8.self)
    }

    @Test func shellOnAPseudoTerminalWithResize() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sleep", "30"])
        try ctrl.sendRaw(#"{"Type":"UserExecStart","MessageOut":"","MessageErr":"","MessageOps":"","OutputFolder":"","RouterAddress":"","Command":"/bin/sh -i","TaskPort":0,"RsyncRunning":false}"# + "\n")
        guard let session = try ctrl.listener.accept(timeoutMilliseconds: 20_000) else {
            Issue.record("the wrapper did not dial back for the exec session")
            return
        }
        try session.write(Array(#"{"Rows":24,"Cols":80}"#.utf8))
        try session.write(Array("stty size; echo TERM=$TERM; tty\n".utf8))
        let first = try read(session, until: "/dev/pts/")
        #expect(first.contains("24 80"), "\(first)")
        #expect(first.contains("TERM=xterm"), "\(first)")
        #expect(first.contains("/dev/pts/"), "\(first)")
        // A resize record split across two writes, then a literal NUL-free command.
        try session.write(Array("\0RESIZE:{\"Rows\":3".utf8))
        try session.write(Array("0,\"Cols\":100}stty size\n".utf8))
        let second = try read(session, until: "30 100")
        #expect(second.contains("30 100"), "\(second)")
        try session.write(Array("exit\n".utf8))
        _ = try read(session, until: "\u{0}never")
        session.close()
        ctrl.close()
        _ = try wrapper.child.wait()
    }

    @Test func entryCommandIsShellSplit() throws {
        let (ctrl, wrapper) = try WrapperProcess.running(["/bin/sleep", "30"])
        let message = SocketMessage(.userExecStart, command: #"/bin/sh -c 'echo "a b" c\ d'"#)
        try ctrl.connection!.write(message.wireBytes)
        guard let session = try ctrl.listener.accept(timeoutMilliseconds: 20_000) else {
            Issue.record("no exec connection")
            return
        }
        try session.write(Array(#"{"Rows":10,"Cols":40}"#.utf8))
        let output = try read(session, until: "a b c d")
        #expect(output.contains("a b c d"), "\(output)")
        session.close()
        ctrl.close()
        _ = try wrapper.child.wait()
    }
}
