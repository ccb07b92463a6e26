/// A `ws://` or `wss://` URL taken apart for dialing: the address to connect to, the `Host`
/// header, the request target, and whether the host is an IP literal (which must not be sent as
/// TLS SNI; the certificate's IP SAN is checked against the connected address instead).
public struct WebSocketURL: Sendable, Equatable {
    public var secure: Bool
    /// Without brackets for IPv6 (`::1`), as the resolver wants it.
    public var host: String
    public var port: Int
    /// Path and query, at least `/`.
    public var target: String

    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else { return nil }
        switch text[..<colon].lowercased() {
        case "ws", "http": secure = false
        case "wss", "https": secure = true
        default: return nil
        }
        let rest = text[text.index(colon, offsetBy: 3)...]
        let delimiters: Set<Character> = ["/", "?", "#"]
        let authorityEnd = rest.firstIndex { (c: Character) in delimiters.contains(c) } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { return nil }
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { return nil }
            port = value
        } else {
            port = secure ? 443 : 80
        }
        var path = String(rest[authorityEnd...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        target = path.hasPrefix("/") ? path : "/" + path
    }

    /// The URL again, for messages (`ws`/`wss`, the host, the request target).
    public var text: String { "\(secure ? "wss" : "ws")://\(hostHeader)\(target)" }

    /// `Host` header value: the port only when it is not the scheme's default.
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// True for an IPv4 dotted quad or any IPv6 literal.
    public var hostIsIPAddress: Bool {
        if host.contains(":") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) && Int(part)! <= 255
        }
    }
}
