import NIOCore

/// Keeps a fast producer from queueing without bound behind a websocket (or any NIO channel).
///
/// A write through an `NIOAsyncChannel`'s writer from outside the channel's event loop is handed
/// to the loop as a task, and the writer suspends only once the loop has run enough of those
/// tasks to see the channel unwritable. A producer faster than the loop (a 100 MB `cat` read from
/// the wrapper's socket, while the loop masks every byte of each frame) therefore queued the
/// whole stream in memory: ctrl grew by the stream's size, and the close that followed waited
/// behind tens of megabytes until the close timeout cut the stream short (issue 14 §5).
/// `settle()` after each write waits until the loop has taken that write, so the writer's own
/// writability backpressure holds again: at most a frame or two is queued ahead of the socket.
public struct WebSocketPacer: Sendable {
    let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Returns once every write handed to the channel before the call has reached its pipeline.
    public func settle() async {
        try? await eventLoop.submit {}.get()
    }
}
