/// Cuts a byte stream into lines for `MessageOut`/`MessageErr`.
///
/// Like Go's `bufio.ScanLines` (the reference), a trailing `\r` is dropped; unlike it, a line over
/// `maxLineBytes` does not end the stream: it is sent in pieces, cut on a UTF-8 boundary.
public struct LineSplitter: Sendable {
    public static let defaultMaxLineBytes = 32 * 1024

    public let maxLineBytes: Int
    private var pending: [UInt8] = []

    public init(maxLineBytes: Int = LineSplitter.defaultMaxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// Adds bytes; returns the complete lines (and over-long pieces) they produced.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var lines: [String] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
            cutLongPieces(into: &lines)
            lines.append(Self.line(pending[...]))
            pending.removeAll(keepingCapacity: true)
            start = i + 1
        }
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]))
        cutLongPieces(into: &lines)
        return lines
    }

    /// At end of stream: the unterminated last line, if any.
    public mutating func finish() -> [String] {
        defer { pending.removeAll() }
        return pending.isEmpty ? [] : [Self.line(pending[...])]
    }

    private mutating func cutLongPieces(into lines: inout [String]) {
        var offset = 0
        while pending.count - offset > maxLineBytes {
            var cut = offset + maxLineBytes
            // Back up over UTF-8 continuation bytes (10xxxxxx) so a character is never split.
            var backed = 0
            while backed < 3 && cut > offset && (pending[cut] & 0xC0) == 0x80 {
                cut -= 1
                backed += 1
            }
            if cut == offset { cut = offset + maxLineBytes }
            lines.append(String(decoding: pending[offset..<cut], as: UTF8.self))
            offset = cut
        }
        if offset > 0 { pending.removeFirst(offset) }
    }

    private static func line(_ bytes: ArraySlice<UInt8>) -> String {
        var bytes = bytes
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
