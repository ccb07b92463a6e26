import Hummingbird
import HummingbirdWebSocket
import NIOCore
import OsmoNet

/// Hummingbird's basic websocket request context plus the connection's event loop, so that the
/// router can pace what it copies into a connection (`WebSocketPacer`).
struct ServiceRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let pacer: WebSocketPacer

    init(source: Source) {
        coreContext = .init(source: source)
        webSocket = .init()
        pacer = WebSocketPacer(eventLoop: source.channel.eventLoop)
    }
}
