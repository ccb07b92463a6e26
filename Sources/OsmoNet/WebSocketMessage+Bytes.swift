import NIOCore
import WSCore

extension WebSocketMessage {
    /// The payload as bytes, whatever the frame type (JSON control messages come in either).
    public var bytes: [UInt8] {
        switch self {
        case .text(let text): Array(text.utf8)
        case .binary(let buffer): Array(buffer.readableBytesView)
        }
    }
}
