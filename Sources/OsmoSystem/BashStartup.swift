import Glibc
import OsmoCore

/// Makes interactive bash shells in the user container load the CLI's completion script, as the
/// reference wrapper does at start (`src/runtime/cmd/user/user.go`, `setupCliAutoComplete`): when
/// the script exists and `~/.bashrc` does not name it yet, append
/// `source <script> 2>/dev/null || true` (a script that fails to load never breaks the shell).
public enum BashStartup {
    public enum Outcome: Equatable, Sendable {
        /// The line was appended to this `.bashrc`.
        case added(String)
        /// `.bashrc` already names the script.
        case alreadyPresent
        /// Nothing done, and why (the reference logs these as warnings and carries on).
        case skipped(String)
    }

    /// The line appended, with the newline before it that keeps it off a last unterminated line.
    public static func sourceLine(_ script: String) -> String {
        "\nsource \(script) 2>/dev/null || true\n"
    }

    /// `script` empty (the flag set to "") does nothing; `home` is `$HOME`.
    public static func sourceCompletion(_ script: String, home: String?) -> Outcome {
        guard !script.isEmpty else { return .skipped("no completion script configured") }
        guard FileSystem.exists(script) else { return .skipped("Failed to read CLI auto complete file: \(script) does not exist") }
        guard let home, !home.isEmpty else { return .skipped("HOME is not set: no .bashrc to add the completion script to") }
        let bashrc = Path.join(home, ".bashrc")
        if FileSystem.exists(bashrc) {
            do {
                if try FileSystem.readText(bashrc).contains(script) { return .alreadyPresent }
            } catch {
                return .skipped("Failed to read .bashrc: \(error)")
            }
        }
        let fd = open(bashrc, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .skipped("Failed to open .bashrc: \(bashrc): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        do {
            try FileSystem.writeAll(fd, sourceLine(script), what: bashrc)
        } catch {
            return .skipped("Failed to write to .bashrc: \(error)")
        }
        return .added(bashrc)
    }
}
