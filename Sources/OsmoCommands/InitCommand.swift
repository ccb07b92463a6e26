import ArgumentParser
import OsmoCore
import OsmoInit
import OsmoSystem

/// `osmo init` / `osmo-init`: the reference's Python-style flags (PROTOCOL.md §2) plus ours.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Prepare the pod's shared volumes and install osmo into them (the init container).",
        discussion: """
        Creates <data>/{benchmarks,input,output,socket} (mode 0777), <run>/workspace, the login \
        config for ctrl and the user, installs this binary once into <bin>/osmo/ with role links \
        (osmo_ctrl, osmo_exec, …) and the CLI into <user_bin>, with its bash and zsh completion \
        scripts in <user_bin>/osmo_cli/osmo/. Re-running on an initialised volume does nothing. \
        On failure prints "Error initializing OSMO: <reason>" and exits 1. Given no location on a \
        machine without /osmo (not an init container), it explains that and creates nothing.
        """)

    @Option(name: .customLong("data_location"), help: "Shared data volume.")
    var dataLocation = "/osmo/data"
    @Option(name: .customLong("login_location"), help: "Login/config volume.")
    var loginLocation = "/osmo/login"
    @Option(name: .customLong("user_bin_location"), help: "User bin volume (on the user's PATH).")
    var userBinLocation = "/osmo/usr/bin"
    @Option(name: .customLong("run_location"), help: "Run volume (gets workspace/).")
    var runLocation = "/osmo/run"
    @Flag(name: .customLong("enable_rsync"), help: "Install rsync into the user bin dir.")
    var enableRsync = false
    @Option(name: .customLong("bin_location"), help: "Shared binary volume as mounted here.")
    var binLocation = "/osmo_binaries"
    @Option(name: .customLong("login_config"), help: "login.yaml to copy (optional at its default path).")
    var loginConfig: String?
    @Option(name: .customLong("user_config"), help: "User data config to copy (optional at its default path).")
    var userConfig: String?
    @Option(name: .customLong("rsync_source"), help: "rsync binary for --enable_rsync.")
    var rsyncSource = "/osmo/rsync"
    @Option(name: .customLong("user_exec_path"), help: "Path of osmo_exec inside the user container.")
    var userExecPath = "/osmo/bin/osmo_exec"
    @Option(name: .customLong("source"), help: "Executable to install (default: this binary).")
    var source: String?
    @Option(name: .customLong("lib_source"), help: "Shared-library dir to install (default: the bundle's lib/ beside the binary).")
    var libSource: String?
    @Flag(name: .shortAndLong, help: "Print what was done.")
    var verbose = false

    var options: InitOptions {
        var options = InitOptions()
        options.dataLocation = dataLocation
        options.loginLocation = loginLocation
        options.userBinLocation = userBinLocation
        options.runLocation = runLocation
        options.enableRsync = enableRsync
        options.binLocation = binLocation
        if let loginConfig {
            options.loginConfig = loginConfig
            options.loginConfigExplicit = true
        }
        if let userConfig {
            options.userConfig = userConfig
            options.userConfigExplicit = true
        }
        options.rsyncSource = rsyncSource
        options.userExecPath = userExecPath
        options.executable = source
        options.libraryDirectory = libSource
        return options
    }

    /// The volumes' mount point in the init container (`kb_objects.py` `create_init_container`
    /// mounts them all below it).
    static let podRoot = "/osmo"

    /// True when no location was given: every volume would land at its default below `/osmo`.
    var usesDefaultLocations: Bool {
        let defaults = InitOptions()
        return dataLocation == defaults.dataLocation && loginLocation == defaults.loginLocation
            && userBinLocation == defaults.userBinLocation && runLocation == defaults.runLocation
            && binLocation == defaults.binLocation
    }

    static let notAnInitContainer = """
        osmo init: this is the init container's command: it prepares a task pod's shared volumes, \
        which the pod mounts below /osmo (and /osmo_binaries). This machine has no /osmo, so \
        nothing was created.
          To run a whole task pod here:      osmo pod run -- CMD ARGS…
          To prepare volumes somewhere else: osmo init --data_location DIR/data --login_location DIR/login \
        --user_bin_location DIR/usr/bin --run_location DIR/run --bin_location DIR/bin

        """

    static func execute(_ arguments: [String]) -> Int32 {
        let command: InitCommand
        do {
            let parsed = try OsmoCommand.parse(InitCommand.self, arguments)
            guard let parsed = parsed as? InitCommand else {
                // `--help` comes back as argument-parser's help command, which throws the help.
                var other = parsed
                try other.run()
                return 0
            }
            command = parsed
        } catch {
            let code = exitCode(for: error).rawValue
            if code == 0 {
                print(OsmoCommand.explain(error))
            } else {
                OsmoMain.writeError(OsmoCommand.explain(error) + "\n")
            }
            return code == 0 ? 0 : ExitCode.usage.rawValue
        }
        if command.usesDefaultLocations && !FileSystem.exists(podRoot) {
            OsmoMain.writeError(notAnInitContainer)
            return ExitCode.usage.rawValue
        }
        do {
            let outcome = try Initializer(options: command.options).run()
            // The CLI's completion scripts, where the wrapper's -cliAutoCompleteScriptPath looks
            // (written when missing, so a re-run on a complete volume changes nothing).
            try CompletionScripts.install(userBin: command.userBinLocation)
            if command.verbose {
                print(outcome == .initialized ? "initialized \(command.dataLocation)" : "\(command.dataLocation) already initialized: nothing to do")
            }
            return 0
        } catch {
            // The reference prints this line on stdout; keep it there for log scrapers.
            print("Error initializing OSMO: \(error)")
            return ExitCode.initFailed.rawValue
        }
    }
}
