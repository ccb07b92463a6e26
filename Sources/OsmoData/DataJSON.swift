/// JSON as Python's `json.dumps` writes it by default (`ensure_ascii`): what the reference
/// prints, so scripts comparing text see the same bytes.
public enum DataJSON {
    /// A string literal: `"` and `\` escaped, `\n \r \t \b \f`, everything else outside
    /// printable ASCII as `\u00xx` (lowercase hex; UTF-16 surrogate pairs beyond the BMP).
    public static func quote(_ text: String) -> String {
        var out = "\""
        for unit in text.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let hex = String(unit, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return out + "\""
    }

    /// `{"k": "v", …}` with the reference's `", "` and `": "` separators, keys in the given order.
    public static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(quote($0.0)): \(quote($0.1))" }.joined(separator: ", ") + "}"
    }
}
