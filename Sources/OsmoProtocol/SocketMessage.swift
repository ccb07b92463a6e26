import FoundationEssentials

/// One message on the ctrl ↔ wrapper Unix socket (PROTOCOL.md §4): the reference's Go struct,
/// with Go's field names, every field present on the wire.
public struct SocketMessage: Equatable, Sendable {
    /// The message kind. A struct, not an enum, so an unknown type from a newer peer decodes and
    /// can be logged and skipped instead of failing the stream.
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // ctrl → wrapper
        public static let execStart = Kind(rawValue: "ExecStart")
        public static let ctrlFailed = Kind(rawValue: "CtrlFailed")
        public static let userExecStart = Kind(rawValue: "UserExecStart")
        public static let userStop = Kind(rawValue: "UserStop")
        public static let userStart = Kind(rawValue: "UserStart")
        // wrapper → ctrl
        public static let messageOut = Kind(rawValue: "MessageOut")
        public static let messageErr = Kind(rawValue: "MessageErr")
        public static let messageOps = Kind(rawValue: "MessageOps")
        public static let userStopFinished = Kind(rawValue: "UserStopFinished")
        public static let userRsyncStatus = Kind(rawValue: "UserRsyncStatus")
        public static let execFinished = Kind(rawValue: "ExecFinished")
        public static let execFailed = Kind(rawValue: "ExecFailed")

        public static let known: Set<Kind> = [
            .execStart, .ctrlFailed, .userExecStart, .userStop, .userStart, .messageOut, .messageErr,
            .messageOps, .userStopFinished, .userRsyncStatus, .execFinished, .execFailed,
        ]
    }

    public var type: Kind
    public var messageOut = ""
    public var messageErr = ""
    public var messageOps = ""
    public var outputFolder = ""
    public var routerAddress = ""
    public var command = ""
    public var taskPort = 0
    public var rsyncRunning = false

    public init(
        _ type: Kind, messageOut: String = "", messageErr: String = "", messageOps: String = "",
        outputFolder: String = "", routerAddress: String = "", command: String = "", taskPort: Int = 0,
        rsyncRunning: Bool = false
    ) {
        self.type = type
        self.messageOut = messageOut
        self.messageErr = messageErr
        self.messageOps = messageOps
        self.outputFolder = outputFolder
        self.routerAddress = routerAddress
        self.command = command
        self.taskPort = taskPort
        self.rsyncRunning = rsyncRunning
    }

    public static func out(_ line: String) -> SocketMessage { SocketMessage(.messageOut, messageOut: line) }
    public static func err(_ line: String) -> SocketMessage { SocketMessage(.messageErr, messageErr: line) }
    public static func ops(_ text: String) -> SocketMessage { SocketMessage(.messageOps, messageOps: text) }
}

extension SocketMessage: Codable {
    enum CodingKeys: String, CodingKey {
        case type = "Type", messageOut = "MessageOut", messageErr = "MessageErr", messageOps = "MessageOps"
        case outputFolder = "OutputFolder", routerAddress = "RouterAddress", command = "Command"
        case taskPort = "TaskPort", rsyncRunning = "RsyncRunning"
    }

    /// Missing fields take Go's zero values, as `encoding/json` does.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = Kind(rawValue: try c.decodeIfPresent(String.self, forKey: .type) ?? "")
        messageOut = try c.decodeIfPresent(String.self, forKey: .messageOut) ?? ""
        messageErr = try c.decodeIfPresent(String.self, forKey: .messageErr) ?? ""
        messageOps = try c.decodeIfPresent(String.self, forKey: .messageOps) ?? ""
        outputFolder = try c.decodeIfPresent(String.self, forKey: .outputFolder) ?? ""
        routerAddress = try c.decodeIfPresent(String.self, forKey: .routerAddress) ?? ""
        command = try c.decodeIfPresent(String.self, forKey: .command) ?? ""
        taskPort = try c.decodeIfPresent(Int.self, forKey: .taskPort) ?? 0
        rsyncRunning = try c.decodeIfPresent(Bool.self, forKey: .rsyncRunning) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type.rawValue, forKey: .type)
        try c.encode(messageOut, forKey: .messageOut)
        try c.encode(messageErr, forKey: .messageErr)
        try c.encode(messageOps, forKey: .messageOps)
        try c.encode(outputFolder, forKey: .outputFolder)
        try c.encode(routerAddress, forKey: .routerAddress)
        try c.encode(command, forKey: .command)
        try c.encode(taskPort, forKey: .taskPort)
        try c.encode(rsyncRunning, forKey: .rsyncRunning)
    }
}
