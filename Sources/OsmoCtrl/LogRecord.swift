import OsmoSystem

/// One line of the task's log, in the shape the OSMO service stores (`Source`, `Time`,
/// `Text`, `IOType`).
public struct LogRecord: Sendable {
    public enum Kind: String, Sendable {
        case stdout = "STDOUT", stderr = "STDERR", ctrl = "OSMO_CTRL", download = "DOWNLOAD", upload = "UPLOAD"
    }

    /// Who sees the line. The reference sends the service only the lines its UI shows (the
    /// command's output and the phase lines of the data and barrier steps); its connection and
    /// action chatter stays in ctrl's own output (`kubectl logs`), and so does ours.
    public enum Reach: Sendable {
        case service
        case local
    }

    public var source: String
    public var seconds: Int
    public var nanoseconds: Int
    public var text: String
    public var kind: Kind
    public var reach: Reach

    public init(source: String, text: String, kind: Kind, reach: Reach = .service, at time: (seconds: Int, nanoseconds: Int) = Clock.wall) {
        self.source = source
        self.text = text
        self.kind = kind
        self.reach = reach
        seconds = time.seconds
        nanoseconds = time.nanoseconds
    }

    public var isUserOutput: Bool { kind == .stdout || kind == .stderr }
}
