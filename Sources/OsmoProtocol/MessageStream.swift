import FoundationEssentials

/// Splits a byte stream into JSON objects the way Go's persistent `json.Decoder` reads them:
/// several values per read, values split across reads, with or without newlines between them.
///
/// Hostile input never crashes it: bytes that are not an object are skipped up to the next line
/// (reported as `.garbage`), an object above `maxMessageBytes` is skipped without being buffered
/// (`.oversize`), an object that is not a valid message is reported as `.invalid`, and so is one
/// cut off by a raw newline (then decoding resumes on the next line).
public struct MessageStream {
    public enum Event: Equatable, Sendable {
        case message(SocketMessage)
        case garbage(bytes: Int)
        case oversize(bytes: Int)
        case invalid(reason: String)
    }

    public static let defaultMaxMessageBytes = 1 << 20

    public let maxMessageBytes: Int
    private var buffer: [UInt8] = []
    /// Scan state of the object that starts at buffer[0].
    private var scanned = 0
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// Skipping an oversize object (nothing is buffered), or garbage up to a newline / `{`.
    private var skippingObject = false
    private var skippedBytes = 0
    private var skippingGarbage = false
    private let decoder = JSONDecoder()

    public init(maxMessageBytes: Int = MessageStream.defaultMaxMessageBytes) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Bytes held for an incomplete message (for "half a message then EOF" reporting).
    public var pendingBytes: Int { buffer.count }

    /// Feeds bytes; returns the events they completed, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [Event] {
        var events: [Event] = []
        var i = 0
        let n = bytes.count
        while i < n {
            let byte = bytes[i]
            if skippingGarbage {
                // Resynchronise at the next line or object start.
                if byte == UInt8(ascii: "\n") {
                    skippedBytes += 1
                    i += 1
                    finishGarbage(&events)
                    continue
                }
                if byte == UInt8(ascii: "{") {
                    finishGarbage(&events)
                    continue
                }
                skippedBytes += 1
                i += 1
                continue
            }
            if buffer.isEmpty && !skippingObject && depth == 0 {
                if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                    i += 1
                    continue
                }
                if byte != UInt8(ascii: "{") {
                    skippingGarbage = true
                    skippedBytes = 0
                    continue
                }
            }
            // A message never spans lines: Go's encoder (and ours) writes each on one line, with
            // control characters escaped. A raw newline inside an object therefore ends a
            // broken one (say, a writer killed mid-message), and decoding resynchronises at
            // the next line instead of swallowing what follows.
            if byte == UInt8(ascii: "\n") && (depth > 0 || inString) {
                let broken = skippingObject ? skippedBytes : buffer.count
                let preview = String(decoding: buffer.prefix(80), as: UTF8.self)
                events.append(.invalid(reason: "an unterminated message (\(broken) bytes: \(preview)…) was cut off by a new line"))
                buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
                depth = 0
                inString = false
                escaped = false
                skippingObject = false
                skippedBytes = 0
                i += 1
                continue
            }
            // Inside an object: track strings and depth.
            if !skippingObject { buffer.append(byte) } else { skippedBytes += 1 }
            i += 1
            if inString {
                if escaped { escaped = false }
                else if byte == UInt8(ascii: "\\") { escaped = true }
                else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                depth += 1
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0 {
                    if skippingObject {
                        events.append(.oversize(bytes: skippedBytes))
                        skippingObject = false
                        skippedBytes = 0
                    } else {
                        events.append(decode())
                        buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
                    }
                    continue
                }
            }
            if !skippingObject && buffer.count > maxMessageBytes {
                skippingObject = true
                skippedBytes = buffer.count
                buffer.removeAll()
            }
        }
        return events
    }

    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        bytes.withUnsafeBytes { feed($0) }
    }

    private mutating func finishGarbage(_ events: inout [Event]) {
        if skippedBytes > 0 { events.append(.garbage(bytes: skippedBytes)) }
        skippingGarbage = false
        skippedBytes = 0
    }

    private func decode() -> Event {
        if let message = buffer.withUnsafeBytes({ SocketMessage.decodeFlat($0) }) { return .message(message) }
        do {
            let message = try decoder.decode(SocketMessage.self, from: Data(buffer))
            return .message(message)
        } catch {
            let preview = String(decoding: buffer.prefix(80), as: UTF8.self)
            return .invalid(reason: "not a socket message (\(preview)…): \(error)")
        }
    }
}
