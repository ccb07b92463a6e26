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
    /// the reference ctrl write it (no spaces).
    public static func field(_ name: String, in object: String) -> Substring? {
        guard let range = object.firstRange(of: "\"\(name)\":\"") else { return nil }
        let rest = object[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return rest[..<end]
    }

    /// The value of a top-level integer field (`"Seq":42`).
    public static func integer(_ name: String, in object: String) -> Int? {
        guard let range = object.firstRange(of: "\"\(name)\":") else { return nil }
        let digits = object[range.upperBound...].prefix { $0.isNumber || $0 == "-" }
        return Int(digits)
    }
}
