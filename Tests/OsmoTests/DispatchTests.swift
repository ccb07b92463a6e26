import Glibc
import OsmoCommands
import OsmoSystem
import Testing

/// The binary picks its role from argv[0] (links) or from the first argument.
@Suite struct DispatchTests {
    /// Every program name reaches its role: the role's own usage text proves which one ran.
    @Test(arguments: Array(Role.programNames.keys).sorted())
    func programNameSelectsRole(name: String) throws {
        let scratch = Scratch()
        let link = scratch.at(name)
        try Shell.sh("ln -s '\(OsmoBinary.path)' '\(link)'")
        let result = try Shell.run(link, ["--help"])
        let role = Role.programNames[name]!
        #expect(result.status == 0, "\(result.stderr)")
        let text = result.stdout + result.stderr
        #expect(text.contains(Self.usageMarker(role)), "\(text)")
        if role == .user { #expect(text.contains("Usage of \(name):")) }
    }

    /// A phrase only that role's usage text contains.
    static func usageMarker(_ role: Role) -> String {
        switch role {
        case .initialize: "--data_location"
        case .user: "-commands"
        case .data: "Move datasets between object stores"
        case .ctrl: "-unixTimeout"
        case .pod: "Run a task pod locally"
        case .service: "Serve the OSMO service endpoints"
        case .exec: "Open a shell in a running task"
        case .portForward: "Forward local ports to a running task"
        case .workflow: "The reference CLI's workflow commands"
        }
    }

    /// argv[0] alone decides, even without a link on disk (as after a bind mount of a single file).
    @Test func argv0WithoutLink() throws {
        let result = try Shell.run(OsmoBinary.path, ["-h"], argv0: "/osmo/bin/osmo_exec")
        #expect(result.status == 0)
        #expect(result.stderr.contains("Usage of osmo_exec:"))
    }

    @Test(arguments: Role.allCases)
    func subcommandSelectsRole(role: Role) throws {
        let result = try Shell.run(OsmoBinary.path, [role.rawValue, "--help"])
        #expect(result.status == 0)
        let text = result.stdout + result.stderr
        #expect(text.contains(Self.usageMarker(role)), "\(text)")
    }

    @Test func versionAndHelpListRoles() throws {
        let version = try Shell.run(OsmoBinary.path, ["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("osmo \(OsmoMain.version)\n"))
        #expect(version.stdout.contains("roles: \(Role.validNames)"))
        #expect(version.stdout.contains("libarchive 3."))
        let help = try Shell.run(OsmoBinary.path, ["--help"])
        #expect(help.status == 0)
        for role in Role.allCases { #expect(help.stdout.contains("  \(role.rawValue)  ")) }
    }

    @Test func unknownRoleIsOneLineExit2() throws {
        let result = try Shell.run(OsmoBinary.path, ["frobnicate"])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "osmo: unknown role 'frobnicate' (valid: \(Role.validNames))\n")
    }

    @Test func unknownProgramNameIsOneLineExit2() throws {
        let result = try Shell.run(OsmoBinary.path, ["--version"], argv0: "/usr/bin/not-osmo")
        #expect(result.status == 2)
        #expect(result.stderr.lines.count == 2 && result.stderr.hasSuffix("\n"))
        #expect(result.stderr.contains("unknown program name 'not-osmo'") && result.stderr.contains("osmo_exec"))
    }

    @Test func roleEnvironmentOverride() throws {
        let env = ChildProcess.currentEnvironment + ["OSMO_ROLE=init"]
        let result = try Shell.run(OsmoBinary.path, ["--help"], argv0: "anything", environment: env)
        #expect(result.status == 0)
        #expect(result.stdout.contains("--data_location"))
        let bad = try Shell.run(OsmoBinary.path, [], environment: ChildProcess.currentEnvironment + ["OSMO_ROLE=nope"])
        #expect(bad.status == 2)
    }

    @Test func goFlagErrorsExit2WithUsage() throws {
        let result = try Shell.run(OsmoBinary.path, ["user", "-noSuchFlag", "x"])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("flag provided but not defined: -noSuchFlag\nUsage of osmo user:"))
        let bad = try Shell.run(OsmoBinary.path, ["user", "-unixTimeout", "soon"])
        #expect(bad.status == 2)
        #expect(bad.stderr.hasPrefix(#"invalid value "soon" for flag -unixTimeout: parse error"#))
    }

    /// Go's flag package: `-x v`, `-x=v`, `--x v`, repeatable lists, bools, stop at `--`.
    @Test func goFlagForms() throws {
        var flags = GoFlags(program: "t")
        flags.list("commands", "")
        flags.string("socketPath", "", "")
        flags.int("unixTimeout", 120, "")
        flags.bool("enableRsync", "")
        try flags.parse(["-commands", "python", "--commands=-c", "-socketPath=/s", "--enableRsync", "-unixTimeout", "5", "--", "-args"])
        #expect(flags.list("commands") == ["python", "-c"])
        #expect(flags.string("socketPath") == "/s")
        #expect(flags.int("unixTimeout") == 5)
        #expect(flags.bool("enableRsync"))
        #expect(flags.positional == ["-args"])
        var defaults = flags
        try defaults.parse([])
        #expect(GoFlags(program: "t").positional.isEmpty)
    }
}
