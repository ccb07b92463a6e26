import Glibc

/// Where the portable bundle keeps its shared libraries relative to the binary.
///
/// `dist/osmo/bin/osmo` + `dist/osmo/lib/` in the bundle and the runtime image (`/osmo/bin`,
/// `/osmo/lib`); `<user_bin>/osmo` + `<user_bin>/lib/` in the user container, as `osmo init` lays it.
public enum BundleLayout {
    /// Environment variable naming an extra library directory to search first.
    public static let libraryEnvironmentKey = "OSMO_LIB_DIR"

    /// Candidate library dirs for an executable path, most specific first. Both the path as
    /// invoked (a symlink's own dir) and its resolved target are considered.
    public static func libraryDirectories(forExecutable executable: String?) -> [String] {
        var result: [String] = []
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
        let real = FileSystem.realPath(executable) ?? executable
        let dir = Path.parent(real)
        return [Path.join(Path.parent(dir), "lib"), Path.join(dir, "lib")].first(where: FileSystem.isDirectory)
    }
}
