import Glibc

/// Where the portable bundle keeps its shared libraries relative to the binary.
///
/// `dist/osmo/bin/osmo` + `dist/osmo/lib/` in the bundle and the runtime image (`/osmo/bin`,
/// `/osmo/lib`); `<user_bin>/osmo` + `<user_bin>/lib/` in the user container, as `osmo init` lays it.
/// In a bundle `bin/osmo` is the static launcher (`Launcher/launcher.c`) and the real binary is
/// `lib/osmo.real`, run by the bundle's own glibc loader.
public enum BundleLayout {
    /// Environment variable naming an extra library directory to search first.
    public static let libraryEnvironmentKey = "OSMO_LIB_DIR"

    /// How the launcher started this process: the path it was started from (what `/proc/self/exe`
    /// would name without the loader in between; empty if unknown) and the bundle's lib dir.
    public struct Launch: Sendable {
        public let executable: String
        public let libraryDirectory: String
    }

    /// Read once, and removed from the environment at the same time, so neither the user's
    /// command nor any other child inherits them. `main` touches this before anything else runs.
    public static let launch: Launch? = {
        guard let exe = getenv("OSMO_LAUNCH_EXE"), let lib = getenv("OSMO_LAUNCH_LIB") else { return nil }
        let launch = Launch(executable: String(cString: exe), libraryDirectory: String(cString: lib))
        unsetenv("OSMO_LAUNCH_EXE")
        unsetenv("OSMO_LAUNCH_LIB")
        return launch
    }()

    /// Runs `body` (a `setlocale`) with the bundle's locale files: the image's, if it has any,
    /// belong to another libc or another glibc version. The variable is restored afterwards,
    /// since children must see the image's own setting.
    public static func withBundledLocales<T>(_ body: () -> T) -> T {
        guard let launch, FileSystem.isDirectory(Path.join(launch.libraryDirectory, "locale")) else { return body() }
        let saved = getenv("LOCPATH").map { String(cString: $0) }
        setenv("LOCPATH", Path.join(launch.libraryDirectory, "locale"), 1)
        defer { if let saved { setenv("LOCPATH", saved, 1) } else { unsetenv("LOCPATH") } }
        return body()
    }

    /// Candidate library dirs for an executable path, most specific first. Both the path as
    /// invoked (a symlink's own dir) and its resolved target are considered.
    public static func libraryDirectories(forExecutable executable: String?) -> [String] {
        var result: [String] = []
        if let launch { result.append(launch.libraryDirectory) }
        if let env = getenv(libraryEnvironmentKey) { result.append(String(cString: env)) }
        var paths: [String] = []
        if let executable {
            paths.append(executable)
            if let real = FileSystem.realPath(executable), real != executable { paths.append(real) }
        }
        for path in paths {
            let dir = Path.parent(path)
            result.append(Path.join(Path.parent(dir), "lib"))
            result.append(Path.join(dir, "lib"))
        }
        result += ["/osmo/lib", "/osmo/usr/bin/lib"]
        var seen = Set<String>()
        return result.filter { seen.insert($0).inserted }
    }

    /// The first candidate that exists.
    public static func libraryDirectory(forExecutable executable: String?) -> String? {
        libraryDirectories(forExecutable: executable).first(where: FileSystem.isDirectory)
    }

    /// The lib dir of the bundle this executable belongs to (`../lib` or `./lib` beside it), or nil
    /// for a development build: no environment override, no system-wide fallback.
    public static func bundledLibraryDirectory(forExecutable executable: String) -> String? {
        if let launch, launch.executable == executable { return launch.libraryDirectory }
        let real = FileSystem.realPath(executable) ?? executable
        let dir = Path.parent(real)
        return [Path.join(Path.parent(dir), "lib"), Path.join(dir, "lib")].first(where: FileSystem.isDirectory)
    }
}
