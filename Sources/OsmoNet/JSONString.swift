/// Fast paths for the logger's double-encoded frames: one JSON string literal that holds a JSON
/// object. A service receiving 100,000 lines a second cannot afford two generic decodes per
/// line; these read exactly the shapes on the wire and report nil for anything else (callers
/// then fall back to `JSONDecoder`).
public enum JSONString {
    /// The contents of the JSON string literal in `text` (surrounding whitespace allowed).
    public static func unquote(_ text: Substring.UTF8View) -> String? {
        var bytes = text[...]
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        guard bytes.count >= 2, bytes.first == 0x22, bytes.last == 0x22 else { return nil }
        bytes = bytes.dropFirst().dropLast()
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let byte = bytes[i]
            i = bytes.index(after: i)
            guard byte == 0x5C else {
                out.append(byte)
                continue
            }
            guard i < bytes.endIndex else { return nil }
            let escape = bytes[i]
            i = bytes.index(after: i)
            switch escape {
            case 0x22, 0x5C, 0x2F: out.append(escape)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard var scalar = hex4(bytes, &i) else { return nil }
                if (0xD800..<0xDC00).contains(scalar) {
                    // A surrogate pair: \uD83D\uDE00
                    guard i < bytes.endIndex, bytes[i] == 0x5C else { return nil }
                    i = bytes.index(after: i)
                    guard i < bytes.endIndex, bytes[i] == 0x75 else { return nil }
                    i = bytes.index(after: i)
                    guard let low = hex4(bytes, &i), (0xDC00..<0xE000).contains(low) else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: String(Character(unicode)).utf8)
            default: return nil
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hex4(_ bytes: Substring.UTF8View.SubSequence, _ i: inout Substring.UTF8View.Index) -> UInt32? {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard i < bytes.endIndex else { return nil }
            let c = bytes[i]
            let digit: UInt32
            switch c {
            case 0x30...0x39: digit = UInt32(c - 0x30)
            case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
            default: return nil
            }
            value = value * 16 + digit
            i = bytes.index(after: i)
        }
        return value
    }

    /// The value of a top-level string field (`"IOType":"STDOUT"`) without escapes, as our and
    /// the reference ctrl write it (no spaces). Byte search: a grapheme-aware `firstRange(of:)`
    /// cost the local service most of its time.
    public static func field(_ name: String, in object: String) -> Substring? {
        let pattern = Array("\"\(name)\":\"".utf8)
        let utf8 = object.utf8
        guard let start = find(pattern, in: utf8) else { return nil }
        guard let end = utf8[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return object[start..<end]
    }

    /// The value of a top-level integer field (`"Seq":42`).
    public static func integer(_ name: String, in object: String) -> Int? {
        let pattern = Array("\"\(name)\":".utf8)
        let utf8 = object.utf8
        guard var i = find(pattern, in: utf8) else { return nil }
        var value = 0
        var negative = false
        var digits = 0
        if i < utf8.endIndex, utf8[i] == UInt8(ascii: "-") {
            negative = true
            i = utf8.index(after: i)
        }
        while i < utf8.endIndex, case let byte = utf8[i], byte >= 0x30 && byte <= 0x39 {
            value = value &* 10 &+ Int(byte - 0x30)
            digits += 1
            i = utf8.index(after: i)
        }
        return digits == 0 ? nil : (negative ? -value : value)
    }

    /// The index just past the first occurrence of `pattern`.
    static func find(_ pattern: [UInt8], in utf8: String.UTF8View) -> String.Index? {
        guard let first = pattern.first else { return nil }
        var i = utf8.startIndex
        while let hit = utf8[i...].firstIndex(of: first) {
            var a = hit
            var matched = true
            for byte in pattern {
                guard a < utf8.endIndex, utf8[a] == byte else {
                    matched = false
                    break
                }
                a = utf8.index(after: a)
            }
            if matched { return a }
            i = utf8.index(after: hit)
        }
        return nil
    }
}
