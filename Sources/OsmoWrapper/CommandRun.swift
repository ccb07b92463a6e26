import Glibc
import OsmoCore
import OsmoSystem

/// One run of the user's command: the child, its output pipes and line state.
final class CommandRun {
    let child: ChildProcess
    let stdoutFd: Int32
    let stderrFd: Int32
    var stdoutOpen = true
    var stderrOpen = true
    var stdoutLines = LineSplitter()
    var stderrLines = LineSplitter()
    var termination: ChildProcess.Termination?
    var killDeadline: Double?
    var drainDeadline: Double?

    init(child: ChildProcess, stdoutFd: Int32, stderrFd: Int32) {
        self.child = child
        self.stdoutFd = stdoutFd
        self.stderrFd = stderrFd
    }

    deinit {
        if stdoutOpen { close(stdoutFd) }
        if stderrOpen { close(stderrFd) }
    }

    var openPipes: [Int32] {
        (stdoutOpen ? [stdoutFd] : []) + (stderrOpen ? [stderrFd] : [])
    }

    /// Closes one pipe and returns its unterminated last line.
    func closePipe(_ fd: Int32) -> [String] {
        if fd == stdoutFd && stdoutOpen {
            stdoutOpen = false
            close(fd)
            return stdoutLines.finish()
        }
        if fd == stderrFd && stderrOpen {
            stderrOpen = false
            close(fd)
            return stderrLines.finish()
        }
        return []
    }

    /// Starts the command: no shell, stdin `/dev/null`, its own process group.
    static func start(executable: String, arguments: [String]) throws -> CommandRun {
        let outPipe = try ProcessControl.pipe()
        let errPipe: (read: Int32, write: Int32)
        do { errPipe = try ProcessControl.pipe() } catch {
            close(outPipe.read)
            close(outPipe.write)
            throw error
        }
        let out = [outPipe.read, outPipe.write]
        let err = [errPipe.read, errPipe.write]
        // stdin is /dev/null; where a bare root has none, an empty pipe reads as EOF just the same.
        var devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if devNull < 0, let empty = try? ProcessControl.pipe() {
            close(empty.write)
            devNull = empty.read
        }
        defer {
            close(out[1])
            close(err[1])
            if devNull >= 0 { close(devNull) }
        }
        do {
            let child = try ChildProcess.spawn(
                executable: executable, arguments: arguments, environment: ChildProcess.currentEnvironment,
                stdin: devNull, stdout: out[1], stderr: err[1], group: .newProcessGroup)
            return CommandRun(child: child, stdoutFd: out[0], stderrFd: err[0])
        } catch {
            close(out[0])
            close(err[0])
            throw error
        }
    }
}
