import COsmoSys
import Glibc

/// The local terminal of an interactive client (`osmo exec`): raw mode while a remote shell owns
/// the keyboard, restored on every way out.
public final class RawTerminal: @unchecked Sendable {
    public let fd: Int32
    private var saved = termios()
    private var active = false

    public init(fd: Int32 = 0) { self.fd = fd }

    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// The window size, or nil when `fd` is not a terminal.
    public static func windowSize(_ fd: Int32) -> (rows: Int, cols: Int)? {
        var rows: UInt16 = 0, cols: UInt16 = 0
        guard osmo_get_window_size(fd, &rows, &cols) == 0, rows > 0, cols > 0 else { return nil }
        return (Int(rows), Int(cols))
    }

    public func enter() {
        guard !active, isatty(fd) == 1, osmo_make_raw(fd, &saved) == 0 else { return }
        active = true
    }

    public func restore() {
        guard active else { return }
        _ = osmo_restore_terminal(fd, &saved)
        active = false
    }
}
