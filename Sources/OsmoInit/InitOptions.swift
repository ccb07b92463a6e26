/// Where `osmo init` reads from and writes to. Defaults are the reference's (PROTOCOL.md §2).
public struct InitOptions: Sendable, Equatable {
    public var dataLocation = "/osmo/data"
    public var loginLocation = "/osmo/login"
    public var userBinLocation = "/osmo/usr/bin"
    public var runLocation = "/osmo/run"
    public var enableRsync = false
    /// The shared binary volume as mounted in the init container (the service mounts it at
    /// `/osmo_binaries` and later bind-mounts `osmo/osmo_ctrl` and `osmo/osmo_exec` from it).
    public var binLocation = "/osmo_binaries"
    /// The platform's login file, copied for ctrl and the user (skipped when absent at its default path).
    public var loginConfig = "/osmo/login.yaml"
    public var loginConfigExplicit = false
    /// The user's data credentials, copied to `<login>/user/config/config.yaml`.
    public var userConfig = "/osmo/user_config.yaml"
    public var userConfigExplicit = false
    /// The rsync binary installed into the user bin dir with `--enable_rsync`.
    public var rsyncSource = "/osmo/rsync"
    /// Where the wrapper appears inside the user container (target of `<user_bin>/osmo`).
    public var userExecPath = "/osmo/bin/osmo_exec"
    /// The executable to install (default: this process's own) and its bundle's `lib` dir.
    public var executable: String?
    public var libraryDirectory: String?

    public init() {}
}
