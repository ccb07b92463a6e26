import Glibc
import OsmoCore
import OsmoSystem

/// `osmo init`: prepares the pod's shared volumes (PROTOCOL.md §2).
///
/// Order matters for crash safety: the binaries and config files are installed first and the data
/// layout is created last, because a non-empty data dir is what tells a restarted init that the
/// work is done. A crash at any point therefore leaves an empty data dir and the next run redoes it.
public struct Initializer: Sendable {
    /// Names under which the binary is linked in `<bin>/osmo/`: the service bind-mounts
    /// `osmo/osmo_ctrl` and `osmo/osmo_exec` as single files, so they are hard links (or copies),
    /// never symlinks that would dangle inside a container.
    public static let roleLinks = ["osmo_ctrl", "osmo_exec", "osmo-ctrl", "osmo-user", "osmo-init"]
    public static let dataSubdirectories = ["benchmarks", "input", "output", "socket"]

    public enum Outcome: Equatable, Sendable {
        case initialized
        /// The data dir already held content: nothing was touched.
        case alreadyInitialized
    }

    public let options: InitOptions

    public init(options: InitOptions) { self.options = options }

    public func run() throws -> Outcome {
        if try isInitialized() { return .alreadyInitialized }
        // Every file is staged first and flushed once, then renamed into place.
        let batch = AtomicBatch()
        let binary = try stageBinaries(batch)
        try stageConfig(batch)
        try batch.commit()
        try linkRoles(to: binary)
        try FileSystem.makeDirectory(Path.join(options.runLocation, "workspace"), mode: 0o777)
        if options.enableRsync { try installRsync() }
        try FileSystem.makeDirectory(options.dataLocation, mode: 0o777)
        for name in Self.dataSubdirectories {
            try FileSystem.makeDirectory(Path.join(options.dataLocation, name), mode: 0o777)
        }
        return .initialized
    }

    /// The reference's test: the data dir holds anything but `lost+found`.
    func isInitialized() throws -> Bool {
        guard FileSystem.isDirectory(options.dataLocation) else {
            if FileSystem.exists(options.dataLocation) {
                throw OsmoError(.io, "\(options.dataLocation) exists and is not a directory")
            }
            return false
        }
        return try FileSystem.contents(of: options.dataLocation).contains { $0 != "lost+found" }
    }

    /// Stages the binary, the user's CLI link and the bundle's libraries; returns the binary's path.
    func stageBinaries(_ batch: AtomicBatch) throws -> String {
        guard let executable = options.executable ?? ExecutableLocation.current() else {
            throw OsmoError(.notFound, "cannot locate the osmo executable to install (no /proc and no usable argv[0])")
        }
        let source = FileSystem.realPath(executable) ?? executable
        let directory = Path.join(options.binLocation, "osmo")
        try FileSystem.makeDirectory(directory, mode: 0o755)
        let binary = Path.join(directory, "osmo")
        try batch.linkOrCopy(from: source, to: binary, mode: 0o755)

        // The user's CLI: `<user_bin>/osmo` → the wrapper's path inside the user container, and
        // the bundle's shared libraries next to it (found by the binary relative to its own name).
        try FileSystem.makeDirectory(options.userBinLocation, mode: 0o755)
        try FileSystem.symlinkAtomically(options.userExecPath, as: Path.join(options.userBinLocation, "osmo"))
        if let libraries = options.libraryDirectory ?? BundleLayout.bundledLibraryDirectory(forExecutable: executable) {
            let destination = Path.join(options.userBinLocation, "lib")
            try stageTree(libraries, to: destination, batch)
            // The launcher beside it (`osmo pod run` starts ctrl and the wrapper from here) finds
            // the one copy through this link; in a cluster only single files of this dir are mounted.
            try FileSystem.symlinkAtomically(FileSystem.realPath(destination) ?? destination, as: Path.join(directory, "lib"))
        }
        return binary
    }

    /// The bundle's lib dir, subdirectories included (`locale/`): regular files keep their
    /// execute bits (the launcher runs `osmo.real` and the loader from there); links and other
    /// kinds are skipped.
    func stageTree(_ source: String, to destination: String, _ batch: AtomicBatch) throws {
        try FileSystem.makeDirectory(destination, mode: 0o755)
        for name in try FileSystem.contents(of: source).sorted() {
            let path = Path.join(source, name)
            guard let st = FileSystem.status(path) else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFREG: try batch.linkOrCopy(from: path, to: Path.join(destination, name), mode: 0o644 | (st.st_mode & 0o111))
            case S_IFDIR: try stageTree(path, to: Path.join(destination, name), batch)
            default: continue
            }
        }
    }

    /// Role names as hard links to the installed binary (copies where links are impossible).
    func linkRoles(to binary: String) throws {
        for name in Self.roleLinks {
            try FileSystem.linkAtomically(binary, as: Path.join(Path.parent(binary), name), mode: 0o755)
        }
    }

    func stageConfig(_ batch: AtomicBatch) throws {
        let ctrlConfig = Path.join(options.loginLocation, "ctrl", "config")
        let userConfig = Path.join(options.loginLocation, "user", "config")
        try FileSystem.makeDirectory(ctrlConfig, mode: 0o777)
        try FileSystem.makeDirectory(userConfig, mode: 0o777)
        if try present(options.loginConfig, explicit: options.loginConfigExplicit) {
            try batch.copy(from: options.loginConfig, to: Path.join(ctrlConfig, "login.yaml"), mode: 0o666)
            try batch.copy(from: options.loginConfig, to: Path.join(userConfig, "login.yaml"), mode: 0o666)
        }
        if try present(options.userConfig, explicit: options.userConfigExplicit) {
            try batch.copy(from: options.userConfig, to: Path.join(userConfig, "config.yaml"), mode: 0o666)
        }
    }

    func installRsync() throws {
        let candidates = [options.rsyncSource, "/usr/bin/rsync"]
        guard let source = candidates.first(where: FileSystem.isExecutableFile) else {
            throw OsmoError(.notFound, "--enable_rsync: no rsync binary at \(candidates.joined(separator: " or "))")
        }
        try FileSystem.installAtomically(from: source, to: Path.join(options.userBinLocation, "rsync"), mode: 0o755)
    }

    /// A config file given explicitly must exist; at its default path it is optional (local pods
    /// and tests run without the platform's login).
    private func present(_ path: String, explicit: Bool) throws -> Bool {
        if FileSystem.exists(path) { return true }
        if explicit { throw OsmoError(.notFound, "\(path) does not exist") }
        return false
    }
}
