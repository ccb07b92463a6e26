import ArgumentParser
import Glibc
import OsmoArchive
import OsmoCore
import OsmoSystem
import OsmoTransfer

/// The entry point: picks the role from argv[0] (or `$OSMO_ROLE`), else from the first argument.
public enum OsmoMain {
    public static let version = "0.1.0"
    /// Overrides the argv[0] dispatch (tests, debugging): a role name or a program name.
    public static let roleEnvironmentKey = "OSMO_ROLE"

    public static func main() -> Never {
        // The bundle launcher's variables leave the environment before any thread or child exists.
        _ = BundleLayout.launch
        // libarchive needs a UTF-8 locale for non-ASCII names; Swift programs start in "C".
        _ = BundleLayout.withBundledLocales { setlocale(LC_CTYPE, "C.UTF-8") }
        // A file-size limit must fail the write (EFBIG, reported) rather than kill the process.
        signal(SIGXFSZ, SIG_IGN)
        let argv = ProgramArguments.all
        exit(run(argv))
    }

    /// Dispatches `argv` (argv[0] included) and returns the exit status.
    public static func run(_ argv: [String]) -> Int32 {
        let program = Path.basename(argv.first ?? "osmo")
        let rest = Array(argv.dropFirst())
        if let override = getenv(roleEnvironmentKey).map({ String(cString: $0) }), !override.isEmpty {
            guard let role = Role(rawValue: override) ?? Role.programNames[override] else {
                return fail("osmo: unknown role '\(override)' in $\(roleEnvironmentKey)\(Role.suggestion(for: override)) (valid: \(Role.validNames))")
            }
            return run(role, program: program, arguments: rest)
        }
        if let role = Role.programNames[program] {
            return run(role, program: program, arguments: rest)
        }
        guard program == "osmo" else {
            let names = ["osmo"] + Role.programNames.keys.sorted()
            let suggestions = Spelling.nearest(program, among: names)
            let hint = suggestions.isEmpty ? "" : ": did you mean \(Spelling.list(suggestions))?"
            return fail("osmo: unknown program name '\(program)'\(hint) (valid: \(names.joined(separator: ", ")))")
        }
        guard let first = rest.first else {
            print(help, terminator: "")
            return 0
        }
        switch first {
        case "--help", "-h", "help":
            print(help, terminator: "")
            return 0
        case "--version", "-V", "version":
            print(versionText, terminator: "")
            return 0
        case _ where first.hasPrefix("--generate-completion-script"):
            return CompletionScripts.print(rest)
        default:
            guard let role = Role(rawValue: first) else {
                return fail("osmo: unknown role '\(first)'\(roleSuggestion(for: first)) (valid: \(Role.validNames))")
            }
            return run(role, program: "osmo \(first)", arguments: Array(rest.dropFirst()))
        }
    }

    static func run(_ role: Role, program: String, arguments: [String]) -> Int32 {
        switch role {
        case .initialize: InitCommand.execute(arguments)
        case .user: UserCommand.execute(program: program, arguments: arguments)
        case .data: DataCommand.execute(arguments)
        case .ctrl: CtrlCommand.execute(program: program, arguments: arguments)
        case .pod: PodCommand.execute(arguments)
        case .service: ServiceCommand.execute(arguments)
        case .exec: ClientCommands.execute(.exec, arguments)
        case .portForward: ClientCommands.execute(.portForward, arguments)
        case .workflow: ClientCommands.execute(.workflow, arguments)
        }
    }

    /// ": did you mean `data`?" for a mistyped role, ": did you mean `osmo pod run`?" for a
    /// role's subcommand given as a role; else "".
    static func roleSuggestion(for word: String) -> String {
        let nearest = Role.suggestion(for: word)
        guard nearest.isEmpty else { return nearest }
        var owners: [String] = []
        for role in OsmoCommand.children(of: OsmoCommand.self) where OsmoCommand.children(of: role).contains(where: { OsmoCommand.answers(to: word, $0) }) {
            owners.append("osmo \(OsmoCommand.name(of: role)) \(word)")
        }
        return owners.isEmpty ? "" : ": did you mean \(Spelling.list(owners))?"
    }

    static func fail(_ message: String) -> Int32 {
        writeError(message + "\n")
        return ExitCode.usage.rawValue
    }

    static func writeError(_ text: String) {
        try? FileSystem.writeAll(2, text, what: "stderr")
    }

    public static var help: String {
        var text = """
        osmo \(version): the OSMO task-pod runtime in one binary.

        Usage: osmo <role> [options]   (or run a link named after the role)

        Roles:

        """
        let width = Role.allCases.map(\.rawValue.count).max() ?? 4
        for role in Role.allCases {
            let padded = role.rawValue + String(repeating: " ", count: width - role.rawValue.count)
            text += "  \(padded)  \(role.summary)\n"
            text += "  \(String(repeating: " ", count: width))  links: \(role.aliases.joined(separator: ", "))\n"
        }
        text += """

        Options:
          -h, --help     show this help
          -V, --version  show the version and the libraries in use
          --generate-completion-script bash|zsh|fish
                         print the shell completion script (init installs the bash and zsh
                         ones beside the CLI it installs in a task)

        `osmo <role> --help` describes a role's flags.

        """
        return text
    }

    public static var versionText: String {
        let curl: String
        do {
            curl = try CurlLibrary.version()
        } catch {
            curl = "unavailable (\(error))"
        }
        return """
        osmo \(version)
        roles: \(Role.validNames)
        libcurl: \(curl) [\(CurlLibrary.origin ?? "not loaded")]
        libarchive: \(ArchiveLibrary.version) [static]

        """
    }
}
