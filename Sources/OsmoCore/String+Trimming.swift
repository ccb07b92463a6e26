extension StringProtocol {
    /// Without leading and trailing whitespace (`\r\n` included: it is one `Character`).
    public func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// Without one pair of surrounding double quotes (literal or XML-escaped `&quot;`), as
    /// stores quote ETags.
    public func trimmingQuotes() -> String {
        var s = Substring(self)
        if s.hasPrefix("&quot;") && s.hasSuffix("&quot;") && s.count >= 12 { return String(s.dropFirst(6).dropLast(6)) }
        if s.count >= 2, s.first == "\"", s.last == "\"" { s = s.dropFirst().dropLast() }
        return String(s)
    }
}
