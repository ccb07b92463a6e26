import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem

/// The ctrl side of the Unix socket, speaking the reference's exact bytes, for wrapper tests.
final class FakeCtrl {
    let listener: UnixListener
    var connection: UnixSocket?
    var stream = MessageStream()
    var received: [SocketMessage] = []

    init(path: String) throws {
        listener = try UnixListener(path: path)
    }

    func accept(timeoutSeconds: Int32 = 20) throws {
        guard let socket = try listener.accept(timeoutMilliseconds: timeoutSeconds * 1000) else {
            throw OsmoError(.io, "the wrapper did not connect within \(timeoutSeconds) s")
        }
        connection = socket
    }

    func sendRaw(_ text: String) throws {
        try connection!.write(Array(text.utf8))
    }

    /// What Go's `json.NewEncoder(conn).Encode(messages.ExecStartRequest(folder))` writes.
    func sendExecStart(outputFolder: String = "/osmo/data/output/") throws {
        try sendRaw(#"{"Type":"ExecStart","MessageOut":"","MessageErr":"","MessageOps":"","OutputFolder":"\#(outputFolder)","RouterAddress":"","Command":"","TaskPort":0,"RsyncRunning":false}"# + "\n")
    }

    /// Reads until `done` says so or the wrapper closes; returns false on timeout.
    @discardableResult
    func read(timeoutSeconds: Double = 30, until done: (SocketMessage) -> Bool) throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Double(time(nil)) + timeoutSeconds
        while Double(time(nil)) < deadline {
            guard try Poll.wait(connection!.fd, events: Int16(POLLIN), timeoutMilliseconds: 200) else { continue }
            let n = try buffer.withUnsafeMutableBytes { try connection!.read(into: $0) }
            if n == 0 { return false }
            for event in buffer.withUnsafeBytes({ stream.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }) {
                guard case .message(let message) = event else { continue }
                received.append(message)
                if done(message) { return true }
            }
        }
        return false
    }

    func readUntilFinished() throws -> SocketMessage? {
        try read { $0.type == .execFinished || $0.type == .execFailed }
        return received.last.flatMap { $0.type == .execFinished || $0.type == .execFailed ? $0 : nil }
    }

    var outLines: [String] { received.filter { $0.type == .messageOut }.map(\.messageOut) }
    var errLines: [String] { received.filter { $0.type == .messageErr }.map(\.messageErr) }

    func close() { connection?.close() }
}

/// A wrapper process under test, its stdout/stderr captured in files.
struct WrapperProcess {
    let child: ChildProcess
    let scratch: Scratch

    static func start(_ scratch: Scratch, command: [String], extra: [String] = []) throws -> WrapperProcess {
        var args = ["osmo_exec", "-socketPath", scratch.at("data.sock"), "-historyFilePath", scratch.at("history"),
                    "-userBinPath", scratch.at("usr-bin"), "-gracePeriod", "2"] + extra
        if let program = command.first { args += ["-commands", program] }
        for argument in command.dropFirst() { args += ["-args", argument] }
        let out = open(scratch.at("wrapper.out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let err = open(scratch.at("wrapper.err"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer {
            Glibc.close(out)
            Glibc.close(err)
        }
        let child = try ChildProcess.spawn(
            executable: OsmoBinary.path, arguments: args, environment: ChildProcess.currentEnvironment,
            stdout: out, stderr: err)
        return WrapperProcess(child: child, scratch: scratch)
    }

    /// The common opening: fake ctrl listening, wrapper started, connected, `ExecStart` sent.
    /// The wrapper keeps its scratch directory alive.
    static func running(_ command: [String], extra: [String] = []) throws -> (FakeCtrl, WrapperProcess) {
        let scratch = Scratch()
        let ctrl = try FakeCtrl(path: scratch.at("data.sock"))
        let wrapper = try start(scratch, command: command, extra: extra)
        try ctrl.accept()
        try ctrl.sendExecStart(outputFolder: scratch.path)
        return (ctrl, wrapper)
    }

    var stdout: String { text(of: scratch.at("wrapper.out")) }
    var stderr: String { text(of: scratch.at("wrapper.err")) }
}
