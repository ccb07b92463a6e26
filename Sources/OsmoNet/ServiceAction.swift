import FoundationEssentials

/// What the service asks of ctrl over the logger websocket (PROTOCOL.md §6): an exec session, a
/// port-forward, a webserver, a barrier release, a restart, or the `log_done` acknowledgement.
/// The reference service sends actions in TEXT frames and the reference ctrl only reads BINARY
/// ones; we accept both.
public struct ServiceAction: Sendable, Decodable, Equatable {
    public enum Kind: String, Sendable, Decodable {
        case exec, portforward, webserver, rsync, barrier, restart
        case logDone = "log_done"
    }

    public var action: Kind
    public var routerAddress: String
    public var entryCommand: String
    public var taskPort: Int
    public var key: String
    public var cookie: String
    public var useUDP: Bool
    public var enableTelemetry: Bool

    enum CodingKeys: String, CodingKey {
        case action, key, cookie
        case routerAddress = "router_address", entryCommand = "entry_command", taskPort = "task_port"
        case useUDP = "use_udp", enableTelemetry = "enable_telemetry"
    }

    public init(_ action: Kind, routerAddress: String = "", entryCommand: String = "", taskPort: Int = 0, key: String = "", cookie: String = "", useUDP: Bool = false) {
        self.action = action
        self.routerAddress = routerAddress
        self.entryCommand = entryCommand
        self.taskPort = taskPort
        self.key = key
        self.cookie = cookie
        self.useUDP = useUDP
        enableTelemetry = false
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        action = try c.decode(Kind.self, forKey: .action)
        routerAddress = try c.decodeIfPresent(String.self, forKey: .routerAddress) ?? ""
        entryCommand = try c.decodeIfPresent(String.self, forKey: .entryCommand) ?? ""
        taskPort = try c.decodeIfPresent(Int.self, forKey: .taskPort) ?? 0
        key = try c.decodeIfPresent(String.self, forKey: .key) ?? ""
        cookie = try c.decodeIfPresent(String.self, forKey: .cookie) ?? ""
        useUDP = try c.decodeIfPresent(Bool.self, forKey: .useUDP) ?? false
        enableTelemetry = try c.decodeIfPresent(Bool.self, forKey: .enableTelemetry) ?? false
    }

    /// Decodes one frame's payload; the error names what was wrong (the frame is then ignored).
    public static func decode(_ bytes: [UInt8]) throws -> ServiceAction {
        try JSONDecoder().decode(ServiceAction.self, from: Data(bytes))
    }

    /// The action as the service sends it (our local service and tests).
    public var json: String {
        var fields = ["\"action\":\"\(action.rawValue)\""]
        if !routerAddress.isEmpty { fields.append("\"router_address\":\(Self.quote(routerAddress))") }
        if !key.isEmpty { fields.append("\"key\":\(Self.quote(key))") }
        if !cookie.isEmpty || action == .exec || action == .portforward || action == .rsync { fields.append("\"cookie\":\(Self.quote(cookie))") }
        if action == .exec { fields.append("\"entry_command\":\(Self.quote(entryCommand))") }
        if action == .portforward || action == .webserver {
            fields.append("\"task_port\":\(taskPort)")
            fields.append("\"use_udp\":\(useUDP)")
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    public static func quote(_ text: String) -> String {
        String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
    }
}
