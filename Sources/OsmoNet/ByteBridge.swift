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

    /// Pumps until both directions ended or one side closed; closes the socket.
    ///
    /// Each direction waits for its write to be taken by the other side's event loop before it
    /// reads more (`WebSocketPacer`), so what is in flight stays a frame or two whichever side
    /// is slower; without that, a fast socket queued a whole stream in memory behind the
    /// websocket.
    ///
    /// With `halfClose` false the bridge ends as soon as the socket side ends (an exec session:
    /// the real router does not pass the empty frame on, so only closing the websocket tells the
    /// client the session is over).
    @discardableResult
    public static func pump(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, _ pacer: WebSocketPacer, _ stream: Stream, halfClose: Bool = true) async throws -> Totals {
        let socketPacer = WebSocketPacer(eventLoop: stream.channel.eventLoop)
        let toSocket = Counter(), fromSocket = Counter()
        try await stream.executeThenClose { socketIn, socketOut in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                // websocket → socket; true when the websocket closed (end everything).
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 26) {
                        guard case .binary(let buffer) = message else { throw Failure.textFrame }
                        if buffer.readableBytes == 0 {
                            await flushed(stream)
                            socketOut.finish()
                            return false
                        }
                        toSocket.add(buffer.readableBytes)
                        try await socketOut.write(buffer)
                        await socketPacer.settle()
                    }
                    return true
                }
                // socket → websocket; an EOF becomes an empty frame.
                group.addTask {
                    for try await buffer in socketIn {
                        fromSocket.add(buffer.readableBytes)
                        try await outbound.write(.binary(buffer))
                        await pacer.settle()
                    }
                    // Without half-close the websocket is simply closed, as the reference ctrl
                    // does: the real router ends a pair on a disconnect, not on an empty frame.
                    guard halfClose else { return true }
                    try await outbound.write(.binary(ByteBuffer()))
                    return false
                }
                // Once one side has ended everything, the other's cancellation is not an error.
                var ending = false
                while true {
                    do {
                        guard let closed = try await group.next() else { break }
                        if closed && !ending {
                            ending = true
                            group.cancelAll()
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
