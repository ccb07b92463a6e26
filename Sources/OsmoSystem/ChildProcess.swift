import COsmoSys
import Glibc
import OsmoCore

/// A child started with `posix_spawn` (never a Swift `fork`): no Swift code runs between fork
/// and exec, the child gets an empty signal mask and default handlers.
public struct ChildProcess: Sendable {
    public enum Group: Sendable {
        /// Stay in our process group and session.
        case inherit
        /// Lead a new process group (signals to -pid reach it and its descendants).
        case newProcessGroup
        /// New session: needed before taking a controlling terminal.
        case newSession
    }

    /// How a child ended.
    public enum Termination: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public init(waitStatus: Int32) {
            if osmo_wifsignaled(waitStatus) != 0 {
                self = .signaled(osmo_wtermsig(waitStatus))
            } else {
                self = .exited(osmo_wexitstatus(waitStatus))
            }
        }

        /// The status a shell would report: the code, or 128 + signal.
        public var exitStatus: Int32 {
            switch self {
            case .exited(let code): code
            case .signaled(let signal): ExitCode.status(signal: signal)
            }
        }

        public var description: String {
            switch self {
            case .exited(let code): "exited with code \(code)"
            case .signaled(let signal): "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
            }
        }
    }

    public let pid: pid_t

    public init(pid: pid_t) { self.pid = pid }

    /// Starts `executable` (a path; resolve names with `ExecutableLocation.search` first).
    public static func spawn(
        executable: String, arguments: [String], environment: [String],
        stdin: Int32 = -1, stdout: Int32 = -1, stderr: Int32 = -1, group: Group = .inherit
    ) throws -> ChildProcess {
        var pid: pid_t = 0
        let flags: Int32 = switch group {
        case .inherit: 0
        case .newProcessGroup: Int32(OSMO_SPAWN_SETPGROUP)
        case .newSession: Int32(OSMO_SPAWN_SETSID)
        }
        let result = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                osmo_spawn(&pid, executable, argv, envp, stdin, stdout, stderr, flags)
            }
        }
        guard result == 0 else {
            let code: OsmoError.Code = (result == ENOENT || result == EACCES || result == ENOEXEC) ? .notFound : .io
            throw OsmoError(code, "cannot run \(executable): \(SystemCall.describe(errno: result))", cause: Errno(result))
        }
        return ChildProcess(pid: pid)
    }

    /// Blocks until the child ends (retrying EINTR).
    public func wait() throws -> Termination {
        var status: Int32 = 0
        try SystemCall.retrying("waitpid \(pid)") { waitpid(pid, &status, 0) }
        return Termination(waitStatus: status)
    }

    /// Signals the child (or its whole process group).
    @discardableResult
    public func signal(_ signal: Int32, group: Bool = false) -> Bool {
        kill(group ? -pid : pid, signal) == 0
    }

    /// The current environment as `KEY=VALUE` strings.
    public static var currentEnvironment: [String] {
        var result: [String] = []
        var pointer = environ
        while let entry = pointer.pointee {
            result.append(String(cString: entry))
            pointer += 1
        }
        return result
    }
}

/// Calls `body` with a NULL-terminated `char *[]` copy of `strings`.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
