extension SocketMessage {
    /// The exact bytes Go's `json.NewEncoder(conn).Encode(request)` writes: fields in struct
    /// order, HTML-safe escaping (`<`, `>`, `&` as `\u003c`…), U+2028/2029 escaped, a newline.
    public var wireBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(112 + messageOut.utf8.count + messageErr.utf8.count + messageOps.utf8.count)
        out += Array(#"{"Type":"#.utf8)
        GoJSON.appendString(type.rawValue, to: &out)
        out += Array(#","MessageOut":"#.utf8)
        GoJSON.appendString(messageOut, to: &out)
        out += Array(#","MessageErr":"#.utf8)
        GoJSON.appendString(messageErr, to: &out)
        out += Array(#","MessageOps":"#.utf8)
        GoJSON.appendString(messageOps, to: &out)
        out += Array(#","OutputFolder":"#.utf8)
        GoJSON.appendString(outputFolder, to: &out)
        out += Array(#","RouterAddress":"#.utf8)
        GoJSON.appendString(routerAddress, to: &out)
        out += Array(#","Command":"#.utf8)
        GoJSON.appendString(command, to: &out)
        out += Array(#","TaskPort":"#.utf8)
        out += Array(String(taskPort).utf8)
        out += Array(#","RsyncRunning":"#.utf8)
        out += Array((rsyncRunning ? "true" : "false").utf8)
        out += Array("}\n".utf8)
        return out
    }
}

/// Go `encoding/json` string escaping, byte for byte.
public enum GoJSON {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// `string` as a JSON string literal, quotes included.
    public static func quote(_ string: String) -> String {
        var out: [UInt8] = []
        appendString(string, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func appendString(_ string: String, to out: inout [UInt8]) {
        var string = string
        string.withUTF8 { appendQuoted($0, to: &out) }
    }

    /// Quotes UTF-8 bytes (valid: they come from a Swift String): runs of bytes that need no
    /// escape are copied whole, so a log line costs one pass and no allocation per character
    /// (the service link quotes every line twice).
    public static func appendQuoted(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + bytes.count + 2)
        out.append(0x22)
        var runStart = 0
        var i = 0
        let count = bytes.count
        while i < count {
            let byte = bytes[i]
            var escape: (UInt8, UInt8)? = nil
            var unicode: UInt32? = nil
            var width = 1
            switch byte {
            case 0x22: escape = (0x5C, 0x22)
            case 0x5C: escape = (0x5C, 0x5C)
            case 0x0A: escape = (0x5C, UInt8(ascii: "n"))
            case 0x0D: escape = (0x5C, UInt8(ascii: "r"))
            case 0x09: escape = (0x5C, UInt8(ascii: "t"))
            case 0x00..<0x20, 0x3C, 0x3E, 0x26: unicode = UInt32(byte)
            case 0xE2 where i + 2 < count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
                unicode = bytes[i + 2] == 0xA8 ? 0x2028 : 0x2029
                width = 3
            default:
                i += 1
                continue
            }
            if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
            if let (a, b) = escape {
                out.append(a)
                out.append(b)
            } else if let value = unicode {
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), hex[Int(value >> 12 & 0xF)], hex[Int(value >> 8 & 0xF)], hex[Int(value >> 4 & 0xF)], hex[Int(value & 0xF)]])
            }
            i += width
            runStart = i
        }
        if runStart < count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<count])) }
        out.append(0x22)
    }
}
