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
    /// False only for the OSMO service when the operator opted out (`ServiceTLS.verify`).
    public var verifyPeer: Bool
    /// How long our close frame waits for the peer's. The peer answers only after it has read
    /// everything sent before the close, so this bounds the time the tail of a relayed stream
    /// has to drain on a busy machine: generous by default; the logger link, which must
    /// reconnect promptly, uses less.
    public var closeTimeout: Duration = .seconds(30)

    public init(url: String, headers: [(name: String, value: String)] = [], handshakeTimeout: Duration? = nil, pingEvery: Duration? = nil, maxFrameSize: Int = 1 << 24, verifyPeer: Bool = true) {
        self.url = url
        self.headers = headers
        self.handshakeTimeout = handshakeTimeout
        self.pingEvery = pingEvery
        self.maxFrameSize = maxFrameSize
        self.verifyPeer = verifyPeer
    }
}

/// Opens client websockets (WSClient's connection and WSCore's frame handling, our channel set-up:
/// see `WebSocketChannel`) with our defaults: big frames, TLS verified against the CA bundle the
/// transfer engine finds (`SSL_CERT_FILE`, `CURL_CA_BUNDLE`, the distribution's bundle), no SNI for
/// an IP host, quiet library logging.
public enum WebSocketDial {
    public typealias Handler = @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, WebSocketPacer) async throws -> Void

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

    /// One TLS context per verification mode for the process: building one parses the whole CA
    /// bundle (~150 certificates), which WSClient did again for every connection.
    static let verifying = Result { () throws -> NIOSSLContext in
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let bundle = TransferEngine.discoverCABundle() { configuration.trustRoots = .file(bundle) }
        return try NIOSSLContext(configuration: configuration)
    }
    static let unverified = Result { () throws -> NIOSSLContext in
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return try NIOSSLContext(configuration: configuration)
    }

    /// Connects, runs `handler` while the connection is open, and returns the peer's close frame
    /// (nil when the connection ended without one).
    @discardableResult
    public static func connect(_ target: WebSocketTarget, handler: @escaping Handler) async throws -> WebSocketCloseFrame? {
        guard let url = WebSocketURL(target.url) else {
            throw Failure.refused(target.url, "not a ws:// or wss:// URL with a host")
        }
        let tls = url.secure ? try (target.verifyPeer ? verifying : unverified).get() : nil
        let opened = Flag()
        let channel = WebSocketChannel(
            url: url, headers: target.headers, tls: tls, maxFrameSize: target.maxFrameSize,
            autoPing: target.pingEvery.map { .enabled(timePeriod: $0) } ?? .disabled, closeTimeout: target.closeTimeout
        ) { inbound, outbound, context in
            opened.set()
            try await handler(inbound, outbound, WebSocketPacer(eventLoop: context.eventLoop))
        }
        guard let timeout = target.handshakeTimeout else {
            return try await run(channel, url, MultiThreadedEventLoopGroup.singleton)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        return try await withThrowingTaskGroup(of: WebSocketCloseFrame?.self) { tasks in
            tasks.addTask {
                try await run(channel, url, group)
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

    private static func run(_ channel: WebSocketChannel, _ url: WebSocketURL, _ group: any EventLoopGroup) async throws -> WebSocketCloseFrame? {
        do {
            return try await ClientConnection(channel, address: .hostname(url.host, port: url.port), eventLoopGroup: group, logger: logger).run()
        } catch let error as NIOSSLExtraError where error == .failedToValidateHostname {
            // NIOSSL's text says "Couldn't find <none>" for an IP host.
            let need = url.hostIsIPAddress ? "an IP address subjectAltName \(url.host)" : "the name \(url.host)"
            throw Failure.refused(url.text, "the service's TLS certificate does not name this host (it needs \(need))")
        }
    }
}
