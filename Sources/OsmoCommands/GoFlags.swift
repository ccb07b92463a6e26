/// A parser for Go `flag`-style command lines (`-name value`, `-name=value`, `--name`, bool
/// flags without a value), which the reference ctrl and wrapper use and the OSMO service
/// generates. Parsing stops at the first non-flag argument or at `--`, as in Go.
public struct GoFlags {
    public enum Kind: Sendable {
        case string(String)
        case int(Int)
        case bool
        /// Repeatable: every occurrence appends.
        case list
    }

    public struct Flag: Sendable {
        public let name: String
        public let kind: Kind
        public let usage: String
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case help
        case undefined(String)
        case missingValue(String)
        case invalidValue(flag: String, value: String)

        public var description: String {
            switch self {
            case .help: "help requested"
            case .undefined(let name): "flag provided but not defined: -\(name)"
            case .missingValue(let name): "flag needs an argument: -\(name)"
            case .invalidValue(let flag, let value): "invalid value \"\(value)\" for flag -\(flag): parse error"
            }
        }
    }

    public let program: String
    public private(set) var flags: [Flag] = []
    private var strings: [String: String] = [:]
    private var lists: [String: [String]] = [:]
    private var bools: [String: Bool] = [:]
    public private(set) var positional: [String] = []

    public init(program: String) { self.program = program }

    public mutating func string(_ name: String, _ value: String, _ usage: String) {
        flags.append(Flag(name: name, kind: .string(value), usage: usage))
    }

    public mutating func int(_ name: String, _ value: Int, _ usage: String) {
        flags.append(Flag(name: name, kind: .int(value), usage: usage))
    }

    public mutating func bool(_ name: String, _ usage: String) {
        flags.append(Flag(name: name, kind: .bool, usage: usage))
    }

    public mutating func list(_ name: String, _ usage: String) {
        flags.append(Flag(name: name, kind: .list, usage: usage))
    }

    public mutating func parse(_ arguments: [String]) throws(ParseError) {
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            guard argument.count > 1, argument.hasPrefix("-") else { break }
            if argument == "--" {
                i += 1
                break
            }
            var body = Substring(argument.dropFirst(argument.hasPrefix("--") ? 2 : 1))
            guard !body.isEmpty, !body.hasPrefix("-"), !body.hasPrefix("=") else {
                throw .undefined(String(body))
            }
            var inlineValue: String?
            if let eq = body.firstIndex(of: "=") {
                inlineValue = String(body[body.index(after: eq)...])
                body = body[..<eq]
            }
            let name = String(body)
            if name == "h" || name == "help" { throw .help }
            guard let flag = flags.first(where: { $0.name == name }) else { throw .undefined(name) }
            i += 1
            if case .bool = flag.kind {
                switch inlineValue?.lowercased() {
                case nil, "1", "t", "true": bools[name] = true
                case "0", "f", "false": bools[name] = false
                default: throw .invalidValue(flag: name, value: inlineValue!)
                }
                continue
            }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard i < arguments.count else { throw .missingValue(name) }
                value = arguments[i]
                i += 1
            }
            switch flag.kind {
            case .int:
                guard Int(value) != nil else { throw .invalidValue(flag: name, value: value) }
                strings[name] = value
            case .list:
                lists[name, default: []].append(value)
            default:
                strings[name] = value
            }
        }
        positional = Array(arguments[i...])
    }

    public func string(_ name: String) -> String {
        if let value = strings[name] { return value }
        if case .string(let value) = flags.first(where: { $0.name == name })?.kind { return value }
        return ""
    }

    public func int(_ name: String) -> Int {
        if let value = strings[name], let number = Int(value) { return number }
        if case .int(let value) = flags.first(where: { $0.name == name })?.kind { return value }
        return 0
    }

    public func bool(_ name: String) -> Bool { bools[name] ?? false }

    public func list(_ name: String) -> [String] { lists[name] ?? [] }

    /// Whether the flag was given on the command line.
    public func isSet(_ name: String) -> Bool {
        strings[name] != nil || lists[name] != nil || bools[name] != nil
    }

    /// Go's `flag.PrintDefaults` layout.
    public var usage: String {
        var text = "Usage of \(program):\n"
        for flag in flags.sorted(by: { $0.name < $1.name }) {
            switch flag.kind {
            case .bool:
                text += "  -\(flag.name)\n    \t\(flag.usage)\n"
            case .string(let value):
                text += "  -\(flag.name) string\n    \t\(flag.usage)"
                text += value.isEmpty ? "\n" : " (default \"\(value)\")\n"
            case .int(let value):
                text += "  -\(flag.name) int\n    \t\(flag.usage)"
                text += value == 0 ? "\n" : " (default \(value))\n"
            case .list:
                text += "  -\(flag.name) value\n    \t\(flag.usage) (repeatable)\n"
            }
        }
        return text
    }
}
