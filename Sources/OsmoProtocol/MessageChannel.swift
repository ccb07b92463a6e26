import OsmoCore
import OsmoSystem
import Synchronization

/// The write side of a socket connection shared by several producers (the main loop, checkpoint
/// uploads, exec sessions): one lock per connection so messages never interleave.
public final class MessageChannel: Sendable {
    public let socket: UnixSocket
    private let writeLock = Mutex(())

    public init(socket: UnixSocket) { self.socket = socket }

    public func send(_ message: SocketMessage) throws {
        let bytes = message.wireBytes
        try writeLock.withLock { _ in try socket.write(bytes) }
    }

    public func send(_ messages: [SocketMessage]) throws {
        guard !messages.isEmpty else { return }
        var bytes: [UInt8] = []
        for message in messages { bytes += message.wireBytes }
        try writeLock.withLock { _ in try socket.write(bytes) }
    }
}
