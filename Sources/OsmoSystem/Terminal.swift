import COsmoSys
import Glibc
import OsmoCore

/// A pseudo-terminal pair for interactive sessions.
public struct Terminal: Sendable {
    public let master: Int32
    public let slavePath: String

    public static func open() throws -> Terminal {
        var name = [CChar](repeating: 0, count: 128)
        let fd = osmo_open_pty(&name, name.count)
        guard fd >= 0 else {
            throw OsmoError(.io, "cannot open a pseudo-terminal: \(SystemCall.describe(errno: -fd))", cause: Errno(-fd))
        }
        return Terminal(master: fd, slavePath: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    public func setWindowSize(rows: Int, columns: Int) {
        _ = osmo_set_window_size(master, UInt16(clamping: rows), UInt16(clamping: columns))
    }
}

extension ChildProcess {
    /// Starts `executable` as the leader of a new session whose controlling terminal and stdio is
    /// the terminal at `tty`.
    public static func spawn(executable: String, arguments: [String], environment: [String], tty: String) throws -> ChildProcess {
        var pid: pid_t = 0
        let result = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in osmo_spawn_tty(&pid, executable, argv, envp, tty) }
        }
        guard result == 0 else {
            throw OsmoError(result == ENOENT ? .notFound : .io, "cannot run \(executable): \(SystemCall.describe(errno: result))", cause: Errno(result))
        }
        return ChildProcess(pid: pid)
    }
}
