import NIOCore
import NIOPosix
import OsmoCore
import Synchronization
import WSClient

/// Moves bytes between a router websocket (BINARY frames) and a stream socket, both ways, with
/// the protocol's end-of-stream: an empty BINARY frame ends one direction (the socket's write
/// side is shut down and the other direction keeps flowing), a socket EOF is sent as an empty
/// frame. The bridge ends when both directions have ended or either side closed.
public enum ByteBridge {
    public typealias Stream = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// Bytes moved each way.
    public struct Totals: Sendable {
        public var fromSocket = 0
        public var toSocket = 0

        public init(fromSocket: Int = 0, toSocket: Int = 0) {
            self.fromSocket = fromSocket
            self.toSocket = toSocket
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case textFrame
        public var description: String { "a TEXT frame arrived on a router connection (only BINARY frames carry data)" }
    }

    static var group: MultiThreadedEventLoopGroup { .singleton }

    /// Adopts a connected stream socket (an exec sub-connection from the wrapper). NIO owns and
    /// closes the descriptor from here on.
    public static func adopt(fd: Int32) async throws -> Stream {
        try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .withConnectedSocket(fd) { channel in
                channel.eventLoop.makeCompletedFuture { try Stream(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)) }
            }
    }

    public static func connect(host: String, port: Int) async throws -> Stream {
        try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try Stream(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)) }
            }
    }

    /// How one direction of a bridge ended.
    enum End {
        /// An empty frame or a socket EOF passed on: the other direction goes on.
        case halfClosed
        /// The websocket closed (or its close handshake finished): everything ends.
        case websocketClosed
        /// The socket ended an exec session: our close frame is out, the reader waits for the
        /// router's answer.
        case closing
        /// The router never answered the close.
        case closeTimedOut
    }

    /// Pumps until both directions ended or one side closed; closes the socket.
    ///
    /// Each direction waits for its write to be taken by the other side's event loop before it
    /// reads more (`WebSocketPacer`), so what is in flight stays a frame or two whichever side
    /// is slower; without that, a fast socket queued a whole stream in memory behind the
    /// websocket.
    ///
    /// With `halfClose` false the bridge ends when the socket side ends (an exec session: the real
    /// router does not pass the empty frame on, so only closing the websocket tells the client the
    /// session is over). It then sends the close frame itself and keeps reading until the router
    /// answers it, never cancelling the reader: a cancelled read ends the websocket's inbound
    /// stream, WSCore's close handshake then stops waiting for the answer and closes the channel
    /// with the last frames (a short command's output and its exit status) still queued.
    @discardableResult
    public static func pump(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, _ pacer: WebSocketPacer, _ stream: Stream,
                            halfClose: Bool = true, closeWait: Duration = .seconds(30)) async throws -> Totals {
        let socketPacer = WebSocketPacer(eventLoop: stream.channel.eventLoop)
        let toSocket = Counter(), fromSocket = Counter()
        try await stream.executeThenClose { socketIn, socketOut in
            try await withThrowingTaskGroup(of: End.self) { group in
                // websocket → socket.
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 26) {
                        guard case .binary(let buffer) = message else { throw Failure.textFrame }
                        if buffer.readableBytes == 0 {
                            await flushed(stream)
                            socketOut.finish()
                            return .halfClosed
                        }
                        toSocket.add(buffer.readableBytes)
                        try await socketOut.write(buffer)
                        await socketPacer.settle()
                    }
                    return .websocketClosed
                }
                // socket → websocket; an EOF becomes an empty frame, or the close of an exec session.
                group.addTask {
                    for try await buffer in socketIn {
                        fromSocket.add(buffer.readableBytes)
                        try await outbound.write(.binary(buffer))
                        await pacer.settle()
                    }
                    if halfClose {
                        try await outbound.write(.binary(ByteBuffer()))
                        return .halfClosed
                    }
                    // As the reference ctrl: the real router ends a pair on a disconnect.
                    try await outbound.close(.normalClosure, reason: nil)
                    return .closing
                }
                // Once one side has ended everything, the other's cancellation is not an error.
                var ending = false
                while true {
                    do {
                        guard let end = try await group.next() else { break }
                        switch end {
                        case .halfClosed: break
                        case .closing:
                            group.addTask {
                                try await Task.sleep(for: closeWait)
                                return .closeTimedOut
                            }
                        case .websocketClosed, .closeTimedOut:
                            if !ending {
                                ending = true
                                group.cancelAll()
                            }
                        }
                    } catch {
                        if !ending { throw error }
                    }
                }
                // executeThenClose closes the channel at once: let what was written reach the
                // socket first.
                await flushed(stream)
            }
        }
        return Totals(fromSocket: fromSocket.value, toSocket: toSocket.value)
    }

    /// Waits until every write handed to the socket so far has reached the kernel. An empty
    /// write queues behind them and completes only once they are flushed. Needed before the
    /// socket's output is closed: with its input already at EOF, NIO turns an output close into
    /// a full close, which drops writes still pending (the tail of a port-forwarded stream).
    static func flushed(_ stream: Stream) async {
        try? await stream.channel.writeAndFlush(ByteBuffer()).get()
    }
}
