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
}
