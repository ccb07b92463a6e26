import ArgumentParser
import OsmoCore
import OsmoSystem

/// Shell completion for `osmo`, generated from the command definitions by swift-argument-parser
/// (so it cannot drift from the flags), printed by `osmo --generate-completion-script SHELL`
/// and installed by `osmo init` where the reference's init puts the CLI's own scripts
/// (`init.py` copies the CLI package, `autocomplete.bash`/`.zsh` included, to
/// `<user_bin>/osmo_cli/`; the wrapper's `-cliAutoCompleteScriptPath` defaults to
/// `/osmo/usr/bin/osmo_cli/osmo/autocomplete.bash` and adds a `source` line for it to
/// `~/.bashrc`, `user.go` `setupCliAutoComplete`).
public enum CompletionScripts {
    /// The shells scripts are installed for, and their file names.
    static let installed: [(shell: CompletionShell, file: String)] = [(.bash, "autocomplete.bash"), (.zsh, "autocomplete.zsh")]

    /// The directory init writes them to, below the user bin volume.
    public static func directory(userBin: String) -> String {
        Path.join(userBin, "osmo_cli/osmo")
    }

    /// The script for `shell` ("bash", "zsh", "fish"), or nil for another shell.
    public static func script(for shell: String) -> String? {
        CompletionShell(rawValue: shell).map { OsmoCommand.completionScript(for: $0) }
    }

    /// Writes the bash and zsh scripts into `<userBin>/osmo_cli/osmo/` (each atomically; a
    /// script already there is left alone, so a re-run on an initialised volume changes nothing).
    /// Returns the paths written.
    @discardableResult
    public static func install(userBin: String) throws -> [String] {
        let directory = directory(userBin: userBin)
        try FileSystem.makeDirectory(directory, mode: 0o755)
        var written: [String] = []
        for (shell, file) in installed {
            let path = Path.join(directory, file)
            guard !FileSystem.exists(path) else { continue }
            try FileSystem.writeAtomically(Array(OsmoCommand.completionScript(for: shell).utf8), to: path, mode: 0o644)
            written.append(path)
        }
        return written
    }

    /// `osmo --generate-completion-script[=]SHELL`: the script on stdout, exit 0; an unknown
    /// shell is a usage error.
    static func print(_ arguments: [String]) -> Int32 {
        do {
            _ = try OsmoCommand.parseAsRoot(arguments)
            return 0
        } catch {
            let text = OsmoCommand.fullMessage(for: error)
            guard OsmoCommand.exitCode(for: error) == .success else {
                OsmoMain.writeError(text + "\n")
                return OsmoCore.ExitCode.usage.rawValue
            }
            Swift.print(text)
            return 0
        }
    }
}
