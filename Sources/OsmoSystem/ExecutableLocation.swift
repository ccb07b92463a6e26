import Glibc

/// Finds the running executable without relying on `/proc`.
public enum ExecutableLocation {
    /// The path this process was started from: `/proc/self/exe` when mounted; otherwise argv[0]
    /// as given (absolute or relative), or looked up on `PATH` like the shell did. Started by the
    /// bundle's launcher, `/proc/self/exe` names the loader: the launcher's own path counts.
    public static func current(argv0: String? = ProgramArguments.all.first) -> String? {
        if let launch = BundleLayout.launch {
            return launch.executable.isEmpty ? resolve(argv0: argv0) : launch.executable
        }
        if let exe = FileSystem.readLink("/proc/self/exe"), FileSystem.exists(exe) { return exe }
        return resolve(argv0: argv0)
    }

    /// argv[0] made into a path, without following symlinks (their names carry the role).
    public static func resolve(argv0: String?) -> String? {
        guard let argv0, !argv0.isEmpty else { return nil }
        if argv0.contains("/") {
            if argv0.hasPrefix("/") { return argv0 }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            guard getcwd(&buffer, buffer.count) != nil else { return nil }
            let cwd = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
            return Path.join(String(decoding: cwd, as: UTF8.self), argv0)
        }
        return search(argv0, path: getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin")
    }

    /// `execvp`'s lookup: the first executable regular file named `name` on `path`.
    public static func search(_ name: String, path: String) -> String? {
        for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = Path.join(dir.isEmpty ? "." : String(dir), name)
            if FileSystem.isExecutableFile(candidate) { return candidate }
        }
        return nil
    }
}
