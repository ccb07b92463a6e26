import Glibc

/// Where the rsync program is, for the task's daemon and the workstation's client alike.
public enum RsyncBinary {
    /// Beside the osmo binary (the bundle's `bin/`), in the bundle's `lib/`, then on `PATH` (in a
    /// task that holds the user bin dir, where `osmo-init --enable_rsync` installs it), then
    /// `/usr/bin/rsync`. The one place that decides; the bundle is to carry it (with its shared
    /// libraries) so every image has one.
    public static func locate(executable: String? = ExecutableLocation.current()) -> String? {
        var candidates: [String] = []
        if let executable {
            let real = FileSystem.realPath(executable) ?? executable
            candidates.append(Path.join(Path.parent(real), "rsync"))
            if let lib = BundleLayout.bundledLibraryDirectory(forExecutable: executable) { candidates.append(Path.join(lib, "rsync")) }
        }
        if let path = getenv("PATH").map({ String(cString: $0) }), let found = ExecutableLocation.search("rsync", path: path) {
            candidates.append(found)
        }
        candidates.append("/usr/bin/rsync")
        return candidates.first(where: FileSystem.isExecutableFile)
    }
}
