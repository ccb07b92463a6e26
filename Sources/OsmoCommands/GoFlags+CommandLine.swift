import OsmoCore

extension GoFlags {
    /// Parses a role's command line with Go's conventions: `-h` prints the usage and ends with 0,
    /// a bad flag prints the error and the usage and ends with 2. Returns that status when the
    /// role must stop here, nil when it should run.
    mutating func parseCommandLine(_ arguments: [String]) -> Int32? {
        do {
            try parse(arguments)
            return nil
        } catch .help {
            OsmoMain.writeError(usage)
            return 0
        } catch {
            OsmoMain.writeError("\(error)\n\(usage)")
            return ExitCode.usage.rawValue
        }
    }

    /// The last value given for flag `name` in `-name v`, `-name=v`, `--name v` or `--name=v`
    /// form, without parsing the rest (which may be what failed).
    static func rawValue(of name: String, in arguments: [String]) -> String? {
        var found: String?
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            for prefix in ["-\(name)", "--\(name)"] {
                if word == prefix, index + 1 < arguments.count {
                    found = arguments[index + 1]
                } else if word.hasPrefix(prefix + "=") {
                    found = String(word.dropFirst(prefix.count + 1))
                }
            }
            index += 1
        }
        return found
    }
}

