import Glibc
import Logging
import OsmoCore
import OsmoProtocol
import OsmoSystem

/// One `osmo exec` session (ctrl's `UserExecStart`): on the connection dialed back to ctrl, reads the
/// client's `{"Rows":R,"Cols":C}`, runs the entry command on a new pseudo-terminal as a session
/// leader, and pumps raw bytes both ways, applying in-band `\0RESIZE:{"Rows":R,"Cols":C}` records.
/// Our client may ask for pipes instead (`"Tty":false`, `ExecFraming`): then the command gets
/// plain pipes and the session carries records (`ExecSession+Pipes.swift`).
/// Runs on its own thread; the wrapper's loop reaps the shell like any other child.
struct ExecSession: @unchecked Sendable {
    let command: String
    /// The sub-connection, dialed by the wrapper's loop in message order.
    let socket: UnixSocket
    let options: WrapperOptions
    let logger: Logger

    static let resizeMarker = Array("\0RESIZE:".utf8)

    func run() {
        do { try serve() } catch {
            logger.error("exec session '\(command)': \(error)")
        }
    }

    private func serve() throws {
        defer { socket.close() }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // The first object is the client's terminal size.
        var size: (rows: Int, cols: Int)?
        var reportExit = false
        var pipes = false
        while size == nil {
            let n = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            if n <= 0 { return }
            pending += buffer[0..<n]
            if let end = pending.firstIndex(of: UInt8(ascii: "}")) {
                size = ExecSession.parseSize(pending[...end]) ?? (24, 80)
                // `OSMO_EXEC_TERMINAL_ONLY=1` answers as the reference wrapper does (a terminal,
                // no hello, no status): for images that must behave exactly like it.
                let asReference = getenv("OSMO_EXEC_TERMINAL_ONLY").map { String(cString: $0) == "1" } ?? false
                reportExit = !asReference && ExecSession.asksForExitStatus(pending[...end])
                pipes = reportExit && ExecFraming.asksForPipes(pending[...end])
                pending.removeFirst(end + 1)
            }
        }
        var words = ShellWords.split(command)
        if words.isEmpty { words = ["/bin/sh"] }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let executable = words[0].contains("/") ? (FileSystem.exists(words[0]) ? words[0] : nil) : ExecutableLocation.search(words[0], path: path)
        // Our client (it asked for the exit status) learns the mode first.
        if reportExit { try socket.write(ExecFraming.hello(pipes ? .pipe : .tty)) }
        if pipes {
            try servePipes(words: words, executable: executable, pending: &pending)
            return
        }
        guard let executable else {
            // The shell's wording and status for a command that is not there.
            try socket.write(Array("osmo: \(words[0]): command not found\r\n".utf8))
            if reportExit { try? socket.write(Array("\0EXIT:{\"Status\":\(ExitCode.commandNotFound.rawValue)}".utf8)) }
            socket.shutdownWrite()
            return
        }
        let terminal = try Terminal.open()
        defer { close(terminal.master) }
        terminal.setWindowSize(rows: size!.rows, columns: size!.cols)
        let shell = try ChildProcess.spawn(executable: executable, arguments: words, environment: sessionEnvironment(terminal: true), tty: terminal.slavePath)
        logger.info("exec session started: \(words.joined(separator: " ")) (pid \(shell.pid))")
        try forward(&pending, to: terminal)
        let shellEnded = try pump(socket: socket, terminal: terminal, pending: &pending, buffer: &buffer)
        shell.signal(SIGHUP, group: true)
        if shellEnded && reportExit {
            // Beyond the reference: a client that asked (`"ExitStatus":true` in its first
            // message) gets the shell's status as a trailer after the last output byte.
            if let termination = ExitRegistry.shared.wait(pid: shell.pid, timeout: 5) {
                try? socket.write(Array("\0EXIT:{\"Status\":\(termination.exitStatus)}".utf8))
            }
        }
        socket.shutdownWrite()
    }

    /// The command's environment: the wrapper's, with a history file; a terminal session also
    /// gets `TERM` and a short prompt.
    func sessionEnvironment(terminal: Bool) -> [String] {
        let base = ChildProcess.currentEnvironment.filter { !$0.hasPrefix("TERM=") && !$0.hasPrefix("PS1=") && !$0.hasPrefix("HIST") }
        let history = ["HISTFILE=\(options.historyFilePath)", "HISTSIZE=1000", "HISTFILESIZE=2000", "HISTCONTROL=ignoredups:ignorespace"]
        return base + history + (terminal ? ["TERM=xterm", "PS1=\\$ "] : [])
    }

    /// `"ExitStatus":true` in the client's first message.
    static func asksForExitStatus(_ bytes: ArraySlice<UInt8>) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let range = text.firstRange(of: "\"ExitStatus\"") else { return false }
        return text[range.upperBound...].drop { $0 == " " || $0 == ":" }.hasPrefix("true")
    }

    /// Until the shell's side closes (EIO on the master: true) or the client goes away (false).
    /// A half-closed socket (the client's input ended, e.g. `osmo exec … < file`) is an EOF
    /// typed at the terminal (^D); the output keeps flowing until the shell ends. A fully closed
    /// one (POLLHUP: the client left) ends the session.
    private func pump(socket: UnixSocket, terminal: Terminal, pending: inout [UInt8], buffer: inout [UInt8]) throws -> Bool {
        var inputOpen = true
        while true {
            var fds = [pollfd(fd: socket.fd, events: inputOpen ? Int16(POLLIN) : 0, revents: 0), pollfd(fd: terminal.master, events: Int16(POLLIN), revents: 0)]
            try Poll.wait(&fds, timeoutMilliseconds: -1)
            if fds[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(terminal.master, $0.baseAddress, $0.count) }
                if n <= 0 { return true }
                try buffer.withUnsafeBytes { try socket.write(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            }
            if fds[0].revents & Int16(POLLHUP) != 0 && (!inputOpen || fds[0].revents & Int16(POLLIN) == 0) { return false }
            if inputOpen && fds[0].revents & Int16(POLLIN) != 0 {
                let n = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
                if n <= 0 {
                    if fds[0].revents & Int16(POLLHUP) != 0 { return false }
                    inputOpen = false
                    _ = [UInt8(4)].withUnsafeBytes { write(terminal.master, $0.baseAddress, 1) }
                    continue
                }
                pending += buffer[0..<n]
                try forward(&pending, to: terminal)
            }
        }
    }

    /// Writes keystrokes to the terminal, applying complete resize records and keeping an
    /// incomplete one (split across reads) for later.
    private func forward(_ pending: inout [UInt8], to terminal: Terminal) throws {
        var output: [UInt8] = []
        var i = 0
        while i < pending.count {
            guard pending[i] == 0 else {
                output.append(pending[i])
                i += 1
                continue
            }
            let rest = pending[i...]
            if rest.count < ExecSession.resizeMarker.count {
                if ExecSession.resizeMarker.starts(with: rest) { break } // maybe a record: wait for more
                output.append(0)
                i += 1
                continue
            }
            guard rest.starts(with: ExecSession.resizeMarker) else {
                output.append(0) // a literal Ctrl-@
                i += 1
                continue
            }
            guard let end = rest.firstIndex(of: UInt8(ascii: "}")) else { break }
            if let size = ExecSession.parseSize(pending[(i + ExecSession.resizeMarker.count)...end]) {
                terminal.setWindowSize(rows: size.rows, columns: size.cols)
            }
            i = end + 1
        }
        pending.removeFirst(i)
        try output.withUnsafeBytes { try FileSystem.writeAll(terminal.master, $0, what: "the exec terminal") }
    }

    /// `{"Rows":R,"Cols":C}` (keys in any order, spaces allowed).
    static func parseSize(_ bytes: ArraySlice<UInt8>) -> (rows: Int, cols: Int)? {
        let text = String(decoding: bytes, as: UTF8.self)
        func number(_ key: String) -> Int? {
            guard let range = text.firstRange(of: "\"\(key)\"") else { return nil }
            let digits = text[range.upperBound...].drop { $0 == " " || $0 == ":" }.prefix { $0.isNumber }
            return Int(digits)
        }
        guard let rows = number("Rows"), let cols = number("Cols") else { return nil }
        return (rows, cols)
    }
}
