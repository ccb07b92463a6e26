import FoundationEssentials
import NIOCore
import NIOPosix
import OsmoCore
import OsmoTransfer
import WSClient

/// ctrl's side of exec, port-forward and webserver sessions (PROTOCOL.md §7): dials
/// `{router}/api/router/{kind}/{workflow}/backend/{key}` with the task's token and the action's
/// cookie, and connects it to what the task offers (an exec sub-connection, a local port).
public struct RouterBackend: Sendable {
    public let workflow: String
    public let tokens: TokenSource
    /// A line for ctrl's own log.
    public let note: @Sendable (String) -> Void
    /// Dial attempts, one second apart (the reference's 5).
    public var attempts = 5
    public var udpIdleSeconds = 120.0

    public init(workflow: String, tokens: TokenSource, note: @escaping @Sendable (String) -> Void) {
        self.workflow = workflow
        self.tokens = tokens
        self.note = note
    }

    /// Opens the backend side of `key` and runs `handler` on it, retrying the dial.
    public func dial(_ kind: String, router: String, key: String, cookie: String, handler: @escaping WebSocketDial.Handler) async throws {
        var lastError: (any Error)?
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 { try await Task.sleep(for: .seconds(1)) }
            var opened = false
            do {
                var headers = [try await tokens.header()]
                if !cookie.isEmpty { headers.append((name: "Cookie", value: cookie)) }
                let target = WebSocketTarget(url: "\(router)/api/router/\(kind)/\(workflow)/backend/\(key)", headers: headers, handshakeTimeout: .seconds(30), verifyPeer: ServiceTLS.verify)
                let flag = Flag()
                defer { opened = flag.isSet }
                try await WebSocketDial.connect(target) { inbound, outbound, pacer in
                    flag.set()
                    try await handler(inbound, outbound, pacer)
                }
                return
            } catch {
                if opened { throw error }
                lastError = error
            }
        }
        throw lastError ?? CancellationError()
    }

    // MARK: exec

    /// Relays one exec session between the router and the wrapper's sub-connection `fd`.
    public func exec(_ action: ServiceAction, fd: Int32) async {
        do {
            let stream = try await ByteBridge.adopt(fd: fd)
            try await dial("exec", router: action.routerAddress, key: action.key, cookie: action.cookie) { inbound, outbound, pacer in
                try await ByteBridge.pump(inbound, outbound, pacer, stream, halfClose: false)
            }
        } catch {
            note("exec session \(action.key): \(error)")
        }
    }

    // MARK: port-forward and webserver

    /// TCP (a control connection announcing one data connection per client connection), UDP,
    /// or a webserver (TCP plus websocket requests).
    public func portForward(_ action: ServiceAction) async {
        do {
            if action.useUDP && action.action == .portforward {
                try await udp(action)
            } else {
                try await control(action)
            }
        } catch {
            note("\(action.action.rawValue) to port \(action.taskPort) (\(action.key)): \(error)")
        }
    }

    /// One control message: `{"key","cookie","type":"tcp"|"ws","payload":{"path","headers"}}`.
    struct ConnectionRequest: Decodable {
        var key: String
        var cookie: String?
        var type: String?
        var payload: Payload?
        struct Payload: Decodable {
            var path: String?
            var headers: [String: String]?
        }
    }

    private func control(_ action: ServiceAction) async throws {
        try await dial(action.action.rawValue, router: action.routerAddress, key: action.key, cookie: action.cookie) { inbound, _, _ in
            try await withThrowingDiscardingTaskGroup { group in
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    let bytes = message.bytes
                    guard let request = try? JSONDecoder().decode(ConnectionRequest.self, from: Data(bytes)) else {
                        note("port-forward: ignoring a control message that is not a connection request (\(bytes.count) bytes)")
                        continue
                    }
                    group.addTask {
                        if request.type == "ws" {
                            await self.forwardWebSocket(action, request)
                        } else {
                            await self.forwardTCP(action, request)
                        }
                    }
                }
                // The control connection ended: the connections already open keep going.
            }
        }
    }

    private func forwardTCP(_ action: ServiceAction, _ request: ConnectionRequest) async {
        do {
            try await dial("portforward", router: action.routerAddress, key: request.key, cookie: request.cookie ?? "") { inbound, outbound, pacer in
                let stream: ByteBridge.Stream
                do {
                    stream = try await connectLocal(action.taskPort)
                } catch {
                    note("port-forward: nothing accepts connections on 127.0.0.1:\(action.taskPort) (\(error))")
                    return
                }
                try await ByteBridge.pump(inbound, outbound, pacer, stream)
            }
        } catch {
            note("port-forward connection \(request.key): \(error)")
        }
    }

    private func connectLocal(_ port: Int) async throws -> ByteBridge.Stream {
        var lastError: (any Error)?
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 { try await Task.sleep(for: .seconds(1)) }
            do { return try await ByteBridge.connect(host: "127.0.0.1", port: port) } catch { lastError = error }
        }
        throw lastError!
    }

    /// A websocket request through the webserver: open the same path on the task's port and copy
    /// frames both ways, keeping their type.
    private func forwardWebSocket(_ action: ServiceAction, _ request: ConnectionRequest) async {
        do {
            try await dial("portforward", router: action.routerAddress, key: request.key, cookie: request.cookie ?? "") { remoteIn, remoteOut, remotePacer in
                let path = request.payload?.path ?? "/"
                let headers = (request.payload?.headers ?? [:]).filter { !Self.hopByHop.contains($0.key.lowercased()) }.map { (name: $0.key, value: $0.value) }
                let target = WebSocketTarget(url: "ws://127.0.0.1:\(action.taskPort)\(path.hasPrefix("/") ? path : "/" + path)", headers: headers, handshakeTimeout: .seconds(30))
                try await WebSocketDial.connect(target) { localIn, localOut, localPacer in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await FrameCopy.copy(from: remoteIn, to: localOut, localPacer) }
                        group.addTask { try await FrameCopy.copy(from: localIn, to: remoteOut, remotePacer) }
                        defer { group.cancelAll() }
                        try await group.next()
                    }
                }
            }
        } catch {
            note("webserver websocket \(request.key): \(error)")
        }
    }

    /// Headers that belong to one hop (the handshake makes its own).
    static let hopByHop: Set<String> = [
        "host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
        "sec-websocket-accept", "content-length", "transfer-encoding",
    ]
}

/// Copies websocket messages from one connection to another, keeping their type.
public enum FrameCopy {
    public static func copy(from inbound: WebSocketInboundStream, to outbound: WebSocketOutboundWriter, _ pacer: WebSocketPacer) async throws {
        for try await message in inbound.messages(maxSize: 1 << 26) {
            switch message {
            case .text(let text): try await outbound.write(.text(text))
            case .binary(let buffer): try await outbound.write(.binary(buffer))
            }
            await pacer.settle()
        }
    }
}
