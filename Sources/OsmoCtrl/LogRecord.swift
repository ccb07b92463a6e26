import OsmoSystem

/// One line of the task's log, in the shape the OSMO service stores (`Source`, `Time`,
/// `Text`, `IOType`).
public struct LogRecord: Sendable {
    public enum Kind: String, Sendable {
        case stdout = "STDOUT", stderr = "STDERR", ctrl = "OSMO_CTRL", download = "DOWNLOAD", upload = "UPLOAD"
    }

    public var source: String
    public var seconds: Int
    public var nanoseconds: Int
    public var text: String
    public var kind: Kind

    public init(source: String, text: String, kind: Kind, at time: (seconds: Int, nanoseconds: Int) = Clock.wall) {
        self.source = source
        self.text = text
        self.kind = kind
        seconds = time.seconds
        nanoseconds = time.nanoseconds
    }

    public var isUserOutput: Bool { kind == .stdout || kind == .stderr }
}
