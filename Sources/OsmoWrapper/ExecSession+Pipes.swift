import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem

extension ExecSession {
    /// Pipe mode (`ExecFraming`): the command runs in its own session with plain pipes, stdout
    /// and stderr travel as separate records, stdin as records ending with `stdinClosed`, and the
    /// exit status is the last record. One poll loop; the command's stdin is written without
    /// blocking, so a command that does not read its input never stops its output from flowing.
    /// A client that goes away (the socket hangs up) ends the command's process group.
    func servePipes(words: [String], executable: String?, pending: inout [UInt8]) throws {
        defer { socket.shutdownWrite() }
        guard let executable else {
            try socket.write(ExecFraming.record(.stderr, Array("osmo: \(words[0]): command not found\n".utf8)))
            try socket.write(ExecFraming.record(.exit, Array("\(ExitCode.commandNotFound.rawValue)".utf8)))
            return
        }
        let input = try ProcessControl.pipe()
        let output = try ProcessControl.pipe()
        let errors = try ProcessControl.pipe()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable: executable, arguments: words, environment: sessionEnvironment(terminal: false),
                stdin: input.read, stdout: output.write, stderr: errors.write, group: .newSession)
        } catch {
            [input.read, input.write, output.read, output.write, errors.read, errors.write].forEach { close($0) }
            try socket.write(ExecFraming.record(.stderr, Array("osmo: cannot run \(words[0]): \(error)\n".utf8)))
            try socket.write(ExecFraming.record(.exit, Array("\(ExitCode.commandNotExecutable.rawValue)".utf8)))
            return
        }
        close(input.read)
        close(output.write)
        close(errors.write)
        logger.info("exec session started with pipes: \(words.joined(separator: " ")) (pid \(child.pid))")
        _ = fcntl(input.write, F_SETFL, fcntl(input.write, F_GETFL) | O_NONBLOCK)

        var stdinFD: Int32 = input.write
        var stdinBuffer: [UInt8] = []
        var stdinClosing = false
        var sources: [(fd: Int32, kind: ExecFraming.Kind)] = [(output.read, .stdout), (errors.read, .stderr)]
        var decoder = ExecFraming.Decoder()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var clientGone = false
        defer {
            if stdinFD >= 0 { close(stdinFD) }
            for source in sources { close(source.fd) }
        }

        func take(_ bytes: some Collection<UInt8>) throws {
            for record in try decoder.feed(bytes) {
                switch record.kind {
                case .stdin: if stdinFD >= 0 { stdinBuffer += record.payload }
                case .stdinClosed: stdinClosing = true
                default: break
                }
            }
        }
        try take(pending)
        pending = []

        while !sources.isEmpty {
            // Flush what the command may take now; close its stdin once everything went in.
            if stdinFD >= 0, !stdinBuffer.isEmpty {
                let n = stdinBuffer.withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
                if n > 0 {
                    stdinBuffer.removeFirst(n)
                } else if n < 0, errno != EAGAIN, errno != EINTR {
                    // EPIPE: the command closed its input; what is left is dropped, as a pipe does.
                    stdinBuffer = []
                    close(stdinFD)
                    stdinFD = -1
                }
            }
            if stdinFD >= 0, stdinClosing, stdinBuffer.isEmpty {
                close(stdinFD)
                stdinFD = -1
            }
            var fds = sources.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            // Read from the client only while the command's stdin has room (backpressure).
            let wantInput = !clientGone && stdinBuffer.count < 1 << 20
            fds.append(pollfd(fd: socket.fd, events: wantInput ? Int16(POLLIN) : 0, revents: 0))
            if stdinFD >= 0, !stdinBuffer.isEmpty { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            try Poll.wait(&fds, timeoutMilliseconds: -1)

            let socketEvents = fds[sources.count].revents
            if socketEvents & Int16(POLLIN) != 0 {
                let n = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
                if n > 0 {
                    try take(buffer[0..<n])
                } else {
                    clientGone = true
                }
            } else if socketEvents & Int16(POLLHUP | POLLERR) != 0 {
                clientGone = true
            }
            if clientGone {
                // The client left: nobody reads the output any more.
                logger.info("exec session: the client went away; ending \(words[0])")
                child.signal(SIGHUP, group: true)
                child.signal(SIGCONT, group: true)
                return
            }
            var ended: [Int] = []
            for (index, source) in sources.enumerated() where fds[index].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(source.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    try socket.write(ExecFraming.record(source.kind, buffer[0..<n]))
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    ended.append(index)
                }
            }
            for index in ended.reversed() {
                close(sources[index].fd)
                sources.remove(at: index)
            }
        }
        // Both outputs ended: the status follows (the wrapper's loop reaps every child).
        let status = ExitRegistry.shared.wait(pid: child.pid, timeout: 3600)?.exitStatus ?? ExitCode.status(signal: SIGKILL)
        try socket.write(ExecFraming.record(.exit, Array("\(status)".utf8)))
    }
}
