import HTTPTypes
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import OsmoCore
import OsmoTransfer
import WSClient

/// Where and how to open one client websocket.
public struct WebSocketTarget: Sendable {
    public var url: String
    /// Extra request headers (`Authorization`, `Cookie`, forwarded headers).
    public var headers: [(name: String, value: String)]
    /// Gives up when the HTTP upgrade has not completed in time. WSClient has no such timeout of
    /// its own (a server that accepts TCP and never answers would hang it), so a timed dial runs
    /// on a private one-thread event loop group that the watchdog shuts down.
    public var handshakeTimeout: Duration?
    /// A ping every this often; the connection is closed when a pong does not come back in time.
    public var pingEvery: Duration?
    /// The largest frame accepted: WSClient's default (16 KiB) ends a connection silently.
    public var maxFrameSize: Int

    public init(url: String, headers: [(name: String, value: String)] = [], handshakeTimeout: Duration? = nil, pingEvery: Duration? = nil, maxFrameSize: Int = 1 << 24) {
        self.url = url
        self.headers = headers
        self.handshakeTimeout = handshakeTimeout
        self.pingEvery = pingEvery
        self.maxFrameSize = maxFrameSize
    }
}

/// Opens client websockets on WSClient (swift-websocket) with our defaults: big frames, TLS
/// verified against the CA bundle the transfer engine finds, quiet library logging.
public enum WebSocketDial {
    public typealias Handler = @Sendable (WebSocketInboundStream, WebSocketOutboundWriter) async throws -> Void

    public enum Failure: Error, CustomStringConvertible {
        case handshakeTimeout(String, Duration)
        case refused(String, String)
        public var description: String {
            switch self {
            case .handshakeTimeout(let url, let limit): "\(url): no websocket handshake within \(limit)"
            case .refused(let url, let reason): "\(url): \(reason)"
            }
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "osmo.websocket")
        logger.logLevel = .critical
        return logger
    }()

    static let tls: TLSConfiguration = {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let bundle = TransferEngine.discoverCABundle() { configuration.trustRoots = .file(bundle) }
        return configuration
    }()

    /// Connects, runs `handler` while the connection is open, and returns the peer's close frame
    /// (nil when the connection ended without one).
    @discardableResult
    public static func connect(_ target: WebSocketTarget, handler: @escaping Handler) async throws -> WebSocketCloseFrame? {
        var fields = HTTPFields()
        for header in target.headers {
            guard let name = HTTPField.Name(header.name) else { continue }
            fields.append(HTTPField(name: name, value: header.value))
        }
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: target.maxFrameSize, additionalHeaders: fields, closeTimeout: .seconds(5),
            autoPing: target.pingEvery.map { .enabled(timePeriod: $0) } ?? .disabled
        )
        guard let timeout = target.handshakeTimeout else {
            return try await run(target.url, configuration, MultiThreadedEventLoopGroup.singleton, handler: handler)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let opened = Flag()
        defer { group.shutdownGracefully { _ in } }
        return try await withThrowingTaskGroup(of: WebSocketCloseFrame?.self) { tasks in
            tasks.addTask {
                try await run(target.url, configuration, group) { inbound, outbound in
                    opened.set()
                    try await handler(inbound, outbound)
                }
            }
            tasks.addTask {
                try await Task.sleep(for: timeout)
                if !opened.isSet {
                    try? await group.shutdownGracefully()
                    throw Failure.handshakeTimeout(target.url, timeout)
                }
                try await Task.sleep(for: .seconds(365 * 24 * 3600))
                return nil
            }
            defer { tasks.cancelAll() }
            return try await tasks.next()!
        }
    }

    private static func run(_ url: String, _ configuration: WebSocketClientConfiguration, _ group: any EventLoopGroup, handler: @escaping Handler) async throws -> WebSocketCloseFrame? {
        let client = WebSocketClient(url: url, configuration: configuration, tlsConfiguration: tls, eventLoopGroup: group, logger: logger) { inbound, outbound, _ in
            try await handler(inbound, outbound)
        }
        do {
            return try await client.run()
        } catch let error as WebSocketClientError {
            throw Failure.refused(url, "\(error)")
        }
    }
}
