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
        out.append(UInt8(ascii: "\""))
        // Swift Strings are valid Unicode, so Go's invalid-UTF-8 → U+FFFD rule never applies here.
        for scalar in string.unicodeScalars {
            switch scalar.value {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20, 0x3C, 0x3E, 0x26:
                out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(scalar.value >> 4)], hex[Int(scalar.value & 0xF)]]
            case 0x2028, 0x2029:
                out += Array("\\u202".utf8) + [hex[Int(scalar.value & 0xF)]]
            default:
                out += Array(String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
