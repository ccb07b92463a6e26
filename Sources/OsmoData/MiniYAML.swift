import OsmoCore

/// The YAML the platform's credential files use: nested block mappings of scalars, comments,
/// quoted strings. Lists and flow style are skipped, not misread. Hand-written because this is
/// all we need and a full YAML library would be most of the binary's parsing code.
public enum MiniYAML {
    public indirect enum Node: Sendable {
        case scalar(String)
        case map([(String, Node)])

        public subscript(key: String) -> Node? {
            guard case .map(let pairs) = self else { return nil }
            return pairs.last { $0.0 == key }?.1
        }

        public var string: String? {
            if case .scalar(let value) = self { return value }
            return nil
        }

        public var pairs: [(String, Node)] {
            if case .map(let pairs) = self { return pairs }
            return []
        }
    }

    public static func parse(_ text: String) throws -> Node {
        var lines: [(indent: Int, text: Substring, number: Int)] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let indent = line.prefix { $0 == " " }.count
            let body = stripComment(line.dropFirst(indent))
            if body.allSatisfy({ $0 == " " || $0 == "\t" }) || body == "---" { continue }
            if line.dropFirst(indent).hasPrefix("\t") {
                throw OsmoError(.invalidInput, "YAML line \(index + 1): tabs are not allowed for indentation")
            }
            lines.append((indent, body, index + 1))
        }
        var position = 0
        return try parseMap(lines, &position, indent: lines.first?.indent ?? 0)
    }

    private static func parseMap(_ lines: [(indent: Int, text: Substring, number: Int)], _ position: inout Int, indent: Int) throws -> Node {
        var pairs: [(String, Node)] = []
        while position < lines.count {
            let line = lines[position]
            if line.indent < indent { break }
            if line.indent > indent || line.text.hasPrefix("- ") || line.text == "-" {
                position += 1 // list items and stray deeper lines: not part of our shape
                continue
            }
            guard let colon = keyColon(line.text) else {
                throw OsmoError(.invalidInput, "YAML line \(line.number): expected 'key: value'")
            }
            let key = unquote(line.text[..<colon].trimmingSpaces())
            let value = line.text[line.text.index(after: colon)...].trimmingSpaces()
            position += 1
            if value.isEmpty {
                if position < lines.count, lines[position].indent > indent {
                    pairs.append((key, try parseMap(lines, &position, indent: lines[position].indent)))
                } else {
                    pairs.append((key, .scalar("")))
                }
            } else {
                pairs.append((key, .scalar(unquote(value))))
            }
        }
        return .map(pairs)
    }

    /// The `:` that ends a key (outside quotes, followed by a space or the end).
    private static func keyColon(_ text: Substring) -> Substring.Index? {
        var quote: Character?
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == ":" {
                let next = text.index(after: index)
                if next == text.endIndex || text[next] == " " { return index }
            }
            index = text.index(after: index)
        }
        return nil
    }

    private static func stripComment(_ text: Substring) -> Substring {
        var quote: Character?
        var previous: Character = " "
        for index in text.indices {
            let c = text[index]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" && (previous == " " || index == text.startIndex) {
                return text[..<index]
            }
            previous = c
        }
        return text
    }

    private static func unquote(_ text: String) -> String {
        guard text.count >= 2, let first = text.first, first == text.last, first == "\"" || first == "'" else { return text }
        let inner = String(text.dropFirst().dropLast())
        if first == "'" { return inner.replacing("''", with: "'") }
        var out = ""
        var escaped = false
        for c in inner {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}
