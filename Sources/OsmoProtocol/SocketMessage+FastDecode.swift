/// A direct decoder for the one shape on the wire: a flat object of strings, integers and
/// booleans. It spares the log relay a `JSONDecoder` per line (the hot path of a million-line
/// task); anything it does not recognise returns nil, and `MessageStream` falls back to
/// `JSONDecoder` for the exact verdict and error message.
extension SocketMessage {
    static func decodeFlat(_ bytes: UnsafeRawBufferPointer) -> SocketMessage? {
        var parser = FlatParser(bytes: bytes)
        return parser.message()
    }
}

private struct FlatParser {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    mutating func message() -> SocketMessage? {
        var message = SocketMessage(SocketMessage.Kind(rawValue: ""))
        skipSpace()
        guard next() == UInt8(ascii: "{") else { return nil }
        skipSpace()
        if peek() == UInt8(ascii: "}") { i += 1; return trailingSpaceOnly() ? message : nil }
        while true {
            skipSpace()
            guard let key = string() else { return nil }
            skipSpace()
            guard next() == UInt8(ascii: ":") else { return nil }
            skipSpace()
            switch key {
            case "Type": guard let v = string() else { return nil }; message.type = SocketMessage.Kind(rawValue: v)
            case "MessageOut": guard let v = string() else { return nil }; message.messageOut = v
            case "MessageErr": guard let v = string() else { return nil }; message.messageErr = v
            case "MessageOps": guard let v = string() else { return nil }; message.messageOps = v
            case "OutputFolder": guard let v = string() else { return nil }; message.outputFolder = v
            case "RouterAddress": guard let v = string() else { return nil }; message.routerAddress = v
            case "Command": guard let v = string() else { return nil }; message.command = v
            case "TaskPort": guard let v = integer() else { return nil }; message.taskPort = v
            case "RsyncRunning": guard let v = boolean() else { return nil }; message.rsyncRunning = v
            default: guard skipScalar() else { return nil }
            }
            skipSpace()
            switch next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"): return trailingSpaceOnly() ? message : nil
            default: return nil
            }
        }
    }

    func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func next() -> UInt8? {
        guard i < bytes.count else { return nil }
        defer { i += 1 }
        return bytes[i]
    }

    mutating func skipSpace() {
        while let b = peek(), b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { i += 1 }
    }

    mutating func trailingSpaceOnly() -> Bool {
        skipSpace()
        return i == bytes.count
    }

    mutating func string() -> String? {
        guard next() == UInt8(ascii: "\"") else { return nil }
        let start = i
        // Fast path: no escapes.
        while let b = peek(), b != UInt8(ascii: "\""), b != UInt8(ascii: "\\") {
            if b < 0x20 { return nil }
            i += 1
        }
        guard let b = peek() else { return nil }
        if b == UInt8(ascii: "\"") {
            i += 1
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i - 1]), as: UTF8.self)
        }
        var out = Array(bytes[start..<i])
        while let b = next() {
            switch b {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = next() else { return nil }
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(scalar), next() == UInt8(ascii: "\\"), next() == UInt8(ascii: "u"),
                       let low = hex4(), (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out += Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
                default: return nil
                }
            default:
                if b < 0x20 { return nil }
                out.append(b)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let b = next() else { return nil }
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: return nil
            }
            value = value << 4 | digit
        }
        return value
    }

    mutating func integer() -> Int? {
        let start = i
        if peek() == UInt8(ascii: "-") { i += 1 }
        while let b = peek(), b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { i += 1 }
        guard i > start, let b = peek(), b != UInt8(ascii: "."), b != UInt8(ascii: "e"), b != UInt8(ascii: "E") else { return nil }
        return Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
    }

    mutating func boolean() -> Bool? {
        if match("true") { return true }
        if match("false") { return false }
        return nil
    }

    mutating func match(_ word: String) -> Bool {
        let utf8 = Array(word.utf8)
        guard i + utf8.count <= bytes.count else { return false }
        for k in 0..<utf8.count where bytes[i + k] != utf8[k] { return false }
        i += utf8.count
        return true
    }

    /// An unknown key's value: strings, numbers, booleans and null only (else: not flat).
    mutating func skipScalar() -> Bool {
        switch peek() {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return boolean() != nil
        case UInt8(ascii: "n"): return match("null")
        default:
            let start = i
            while let b = peek(), (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+")
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { i += 1 }
            return i > start
        }
    }
}
