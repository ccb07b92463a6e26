/// The one error type every osmo target throws across its public API.
///
/// `code` says what kind of failure it was (and so which exit code a role reports); `message`
/// is the precise, human sentence; `cause` keeps the lower-level error for logs.
public struct OsmoError: Error, CustomStringConvertible, Sendable {
    /// Extensible failure kinds: each target adds its own as static members in an extension.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let usage = Code("usage")
        public static let io = Code("io")
        public static let invalidInput = Code("invalid-input")
        public static let notFound = Code("not-found")
        public static let unsupported = Code("unsupported")
        public static let protocolViolation = Code("protocol")
        public static let internalError = Code("internal")
        public static let download = Code("download")
        public static let upload = Code("upload")
        public static let dataAuth = Code("data-auth")
        public static let unauthorized = Code("unauthorized")
        public static let command = Code("command")
    }

    public let code: Code
    public let message: String
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return message }
        let inner = (cause as? OsmoError)?.description ?? String(describing: cause)
        return inner.isEmpty || message.hasSuffix(inner) ? message : "\(message): \(inner)"
    }
}
