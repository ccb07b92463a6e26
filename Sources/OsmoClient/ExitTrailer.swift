/// Finds the `\0EXIT:{"Status":N}` trailer our wrapper appends to an exec session's output when
/// the client asked for it, holding back bytes that may be its beginning (it can be split across
/// frames) and passing everything else through.
public struct ExitTrailer: Sendable {
    static let marker = Array("\0EXIT:{".utf8)
    private var held: [UInt8] = []
    public private(set) var status: Int32?

    public init() {}

    /// Returns the bytes to show.
    public mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        var data = held + bytes
        held = []
        if let start = Self.find(Self.marker, in: data) {
            let rest = data[start...]
            if let close = rest.firstIndex(of: UInt8(ascii: "}")) {
                let text = String(decoding: data[(start + Self.marker.count)..<close], as: UTF8.self)
                if let colon = text.lastIndex(of: ":"), let value = Int32(text[text.index(after: colon)...].filter { $0.isNumber || $0 == "-" }) {
                    status = value
                }
                data.removeSubrange(start...close)
                return data
            }
            held = Array(rest)
            return Array(data[..<start])
        }
        // A suffix that could be the start of the marker waits for the next frame.
        for length in stride(from: min(Self.marker.count - 1, data.count), to: 0, by: -1) where data.suffix(length).elementsEqual(Self.marker.prefix(length)) {
            held = Array(data.suffix(length))
            return Array(data.dropLast(length))
        }
        return data
    }

    /// At the end of the stream: whatever was held was not a trailer.
    public mutating func finish() -> [UInt8] {
        defer { held = [] }
        return held
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = 0
        while let zero = haystack[i...].firstIndex(of: needle[0]) {
            if zero + needle.count > haystack.count { return nil }
            if haystack[zero..<(zero + needle.count)].elementsEqual(needle) { return zero }
            i = zero + 1
        }
        return nil
    }
}
