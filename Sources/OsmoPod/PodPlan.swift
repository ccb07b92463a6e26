import OsmoCore
import OsmoSystem

/// One task as the OSMO service would run it: the three containers' arguments, derived once and
/// rendered either as local processes (`osmo pod run`) or as a Kubernetes Pod (`osmo pod manifest`),
/// so the two can never disagree.
public struct PodPlan: Sendable {
    public var taskName = "task"
    public var workflow = "local"
    /// The task's group (barriers wait for a whole group); default `<task>-group`.
    public var groupName: String?
    /// Barrier ctrl waits at before starting the command (empty: none).
    public var barrier = ""
    /// Extra ctrl flags, appended as given.
    public var extraCtrlArguments: [String] = []
    /// ctrl input specs (`task:N,url,regex` / `url:N,url,regex`).
    public var inputs: [String] = []
    /// ctrl output specs (`task:url`, `url:url,regex`, `kpi:url,path`).
    public var outputs: [String] = []
    public var checkpoints: [String] = []
    /// `KEY=VALUE` for the user container.
    public var environment: [String] = []
    /// The user's command, with `{{input:N}}` / `{{output}}` tokens still in it.
    public var command: [String] = []
    /// The rsync plugin as the service configures it (nil: off): the wrapper's daemon limits in
    /// bytes/s per connection and its extra modules `name:path:writable`.
    public struct Rsync: Sendable, Equatable {
        public var readLimit = 0
        public var writeLimit = 0
        public var paths: [String] = []
        public init() {}
    }
    public var rsync: Rsync?
    public var image = "ubuntu:24.04"
    public var runtimeImage = "osmo-runtime:latest"

    public init() {}

    /// Where the pod's volumes are, as seen by its containers.
    public struct Layout: Sendable {
        public var data: String
        public var login: String
        public var userBin: String
        public var run: String
        /// The shared binary volume as init sees it (init installs into `<bin>/osmo/`).
        public var binVolume: String
        public var ctrlExecutable: String
        public var wrapperExecutable: String
        public var userConfig: String
        public var serviceConfig: String

        public var socket: String { Path.join(data, "socket/data.sock") }
        public var input: String { Path.join(data, "input") + "/" }
        public var output: String { Path.join(data, "output") + "/" }

        /// The paths the OSMO service uses (PROTOCOL.md §1).
        public static let cluster = Layout(
            data: "/osmo/data", login: "/osmo/login", userBin: "/osmo/usr/bin", run: "/osmo/run",
            binVolume: "/osmo_binaries", ctrlExecutable: "/osmo/bin/osmo_ctrl", wrapperExecutable: "/osmo/bin/osmo_exec",
            userConfig: "/osmo/user_config.yaml", serviceConfig: "/osmo/service_config.yaml")

        /// A pod directory standing in for the volumes: each volume a subdirectory, the installed
        /// binary's links used directly.
        public static func local(_ pod: String) -> Layout {
            Layout(
                data: Path.join(pod, "data"), login: Path.join(pod, "login"), userBin: Path.join(pod, "usr/bin"),
                run: Path.join(pod, "run"), binVolume: Path.join(pod, "osmo"),
                ctrlExecutable: Path.join(pod, "osmo/osmo/osmo_ctrl"), wrapperExecutable: Path.join(pod, "osmo/osmo/osmo_exec"),
                userConfig: Path.join(pod, "login/user/config/config.yaml"), serviceConfig: Path.join(pod, "login/ctrl/config/config.yaml"))
        }
    }

    /// `--input` forms: `SRC` (next folder), `N,SRC[,REGEX]`, or a full ctrl spec.
    public static func inputSpec(_ text: String, position: Int) throws -> String {
        if text.hasPrefix("task:") || text.hasPrefix("url:") { return text }
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        if parts.count >= 2, Int(parts[0]) != nil {
            return "task:\(parts[0]),\(absolute(parts[1])),\(parts.count > 2 ? parts[2] : "")"
        }
        guard !text.isEmpty else { throw OsmoError(.usage, "--input needs a source") }
        return "task:\(position),\(absolute(text)),"
    }

    /// `--output` forms: `DEST` (the whole output dir), or a full ctrl spec.
    public static func outputSpec(_ text: String) throws -> String {
        if text.hasPrefix("task:") || text.hasPrefix("url:") || text.hasPrefix("kpi:") { return text }
        guard !text.isEmpty else { throw OsmoError(.usage, "--output needs a destination") }
        return "task:\(absolute(text))"
    }

    /// Local paths become absolute (ctrl may run elsewhere); URLs stay as they are.
    static func absolute(_ location: String) -> String {
        if location.contains("://") || location.hasPrefix("/") { return location }
        return Path.join(FileSystem.currentDirectory, location)
    }

    public func initArguments(_ layout: Layout) -> [String] {
        ["--data_location", layout.data, "--login_location", layout.login, "--user_bin_location", layout.userBin,
         "--run_location", layout.run, "--bin_location", layout.binVolume, "--user_exec_path", layout.wrapperExecutable]
            + (rsync == nil ? [] : ["--enable_rsync"])
    }

    public var group: String { groupName ?? "\(taskName)-group" }

    /// `service`: the service flags, placed before the extra arguments so `--ctrl-arg` can
    /// override any of them (Go's flag package keeps the last value).
    public func ctrlArguments(_ layout: Layout, service: [String] = []) -> [String] {
        var args = ["-socketPath", layout.socket, "-inputPath", layout.input, "-outputPath", layout.output]
        for input in inputs { args += ["-inputs", input] }
        for output in outputs { args += ["-outputs", output] }
        args += ["-workflow", workflow, "-groupName", group, "-retryId", "0", "-logSource", taskName,
                 "-userConfig", layout.userConfig, "-serviceConfig", layout.serviceConfig]
        if !barrier.isEmpty { args += ["-barrier", barrier] }
        args += service
        args += extraCtrlArguments
        return args
    }

    public func wrapperArguments(_ layout: Layout) -> [String] {
        var args = ["-socketPath", layout.socket, "-userBinPath", layout.userBin,
                    "-historyFilePath", Path.join(layout.data, ".bash_history"), "-runLocation", layout.run]
        for checkpoint in substitute(checkpoints, layout) { args += ["-checkpoint", checkpoint] }
        if let rsync {
            // As the service adds them (COMPATIBILITY.md §5).
            args += ["-enableRsync", "-rsyncReadLimit", "\(rsync.readLimit)", "-rsyncWriteLimit", "\(rsync.writeLimit)"]
            if !rsync.paths.isEmpty { args += ["-rsyncPathAllowList", rsync.paths.joined(separator: ",")] }
        }
        let resolved = substitute(command, layout)
        if let program = resolved.first { args += ["-commands", program] }
        for argument in resolved.dropFirst() { args += ["-args", argument] }
        return args
    }

    /// The service's token substitution: `{{input:N}}` → `<data>/input/N`, `{{output}}` → `<data>/output`.
    public func substitute(_ words: [String], _ layout: Layout) -> [String] {
        words.map { word in
            var text = word.replacing("{{output}}", with: Path.join(layout.data, "output"))
            while let start = text.firstRange(of: "{{input:"), let end = text[start.upperBound...].firstRange(of: "}}") {
                let folder = text[start.upperBound..<end.lowerBound]
                text.replaceSubrange(start.lowerBound..<end.upperBound, with: Path.join(layout.data, "input", String(folder)))
            }
            return text
        }
    }
}
