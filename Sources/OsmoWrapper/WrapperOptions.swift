import OsmoProtocol

/// The wrapper's flags: the reference `osmo_exec`'s (PROTOCOL.md §5) plus a grace period.
public struct WrapperOptions: Sendable, Equatable {
    /// Program then arguments: `-commands` values followed by `-args` values, as the reference joins them.
    public var command: [String] = []
    public var checkpoints: [String] = []
    public var socketPath = ""
    /// Minutes to keep trying to reach ctrl.
    public var unixTimeoutMinutes = 120
    public var userBinPath = "/osmo/usr/bin"
    public var historyFilePath = "/osmo/data/.bash_history"
    public var runLocation = "/osmo/run"
    public var enableRsync = false
    public var rsyncReadLimit = 0
    public var rsyncWriteLimit = 0
    public var rsyncPathAllowList = ""
    /// Where the rsync daemon listens (ours: the reference's is always 16000).
    public var rsyncPort = RsyncPort.current
    public var cliAutoCompleteScriptPath = "/osmo/usr/bin/osmo_cli/osmo/autocomplete.bash"
    /// Seconds between forwarding SIGTERM to the command and SIGKILL (ours; the reference has none).
    public var gracePeriodSeconds = 10

    public init() {}
}
