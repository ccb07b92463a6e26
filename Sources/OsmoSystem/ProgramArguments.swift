import COsmoSys

/// The process's argv as the kernel passed it.
///
/// Captured by an ELF constructor in `COsmoSys` because `CommandLine.arguments` is read from
/// `/proc/self/cmdline`, which does not exist in a fresh container before `/proc` is mounted.
public enum ProgramArguments {
    public static var all: [String] {
        let argc = Int(osmo_argc())
        guard argc > 0, let argv = osmo_argv() else { return CommandLine.arguments }
        return (0..<argc).compactMap { argv[$0].map { String(cString: $0) } }
    }
}
