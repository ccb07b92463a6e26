import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOWebSocket
@_spi(WSInternal) import WSCore
import WSClient

/// One client websocket connection's channel set-up, for WSClient's `ClientConnection`: TLS (when
/// `wss`), the HTTP/1.1 upgrade, then WSCore's frame handler (ping, pong, close, fragments).
///
/// Ours rather than WSClient's `WebSocketClient` for one reason: WSClient hands the URL's host to
/// TLS as the SNI name, and NIOSSL refuses an IP address there, so `wss://10.0.0.5:443` could
/// never connect. Here an IP host sends no SNI and NIOSSL checks the certificate's IP SAN against
/// the connected address (RFC 6066 §3 forbids IP literals in SNI). The frame handling stays
/// WSCore's, reached through its `WSInternal` SPI (the entry point WSClient itself uses); the
/// upgrade itself is swift-nio's typed client upgrader.
///
/// Unlike WSClient it sends no `Origin` header, as the reference ctrl's gorilla dialer does not.
struct WebSocketChannel: ClientConnectionChannel {
    enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    typealias Value = EventLoopFuture<Upgrade>
    typealias Result = WebSocketCloseFrame?

    struct Context: WebSocketContext {
        let logger: Logger
        /// The connection's event loop, for `WebSocketPacer`.
        let eventLoop: any EventLoop
    }

    let url: WebSocketURL
    let headers: [(name: String, value: String)]
    let tls: NIOSSLContext?
    let maxFrameSize: Int
    let autoPing: AutoPingSetup
    let closeTimeout: Duration
    let handler: WebSocketDataHandler<Context>

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            if let tls {
                let handler = try NIOSSLClientHandler(context: tls, serverHostname: url.hostIsIPAddress ? nil : url.host)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
            }
            let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: maxFrameSize) { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    .websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                }
            }
            var fields = HTTPHeaders()
            fields.add(name: "Host", value: url.hostHeader)
            for header in headers { fields.add(name: header.name, value: header.value) }
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target, headers: fields)
            var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                    upgradeRequestHead: head, upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { .refused } }
                )
            )
            configuration.leftOverBytesStrategy = .forwardBytes
            return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
        }
    }

    func handle(value: Value, logger: Logger) async throws -> WebSocketCloseFrame? {
        switch try await value.get() {
        case .refused:
            throw WebSocketDial.Failure.refused(url.text, "the server did not upgrade the connection to a websocket")
        case .websocket(let channel):
            return try await WebSocketHandler.handle(
                type: .client,
                configuration: .init(extensions: [], autoPing: autoPing, closeTimeout: closeTimeout, validateUTF8: false, maxFrameSize: maxFrameSize),
                asyncChannel: channel, context: Context(logger: logger, eventLoop: channel.channel.eventLoop), handler: handler
            )
        }
    }
}
