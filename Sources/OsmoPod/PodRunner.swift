import Glibc
import OsmoCore
import OsmoService
import OsmoSystem

/// `osmo pod run`: plays a whole task pod on this machine, as kubelet would run it: a pod
/// directory for the shared volumes, `osmo-init` into it, then osmo-ctrl and osmo_exec as two
/// processes of the installed binary that share only that directory.
///
/// ctrl's log (the task's merged log) is shown live on stdout; the user container's own output
/// goes to `<pod>/user-container.log` (what `kubectl logs` would show for it). Ctrl-C or SIGTERM
/// deletes the "pod": both containers get SIGTERM (the command is stopped, outputs are still
/// uploaded); a second one kills them.
public final class PodRunner {
    public let plan: PodPlan
    public let podDirectory: String
    /// Print each container's CPU time and peak memory when it ends (from `wait4`).
    public var reportUsage = false
    /// Serve the OSMO service's endpoints in this process (logs, exec, port-forward) on this
    /// port (0: any free one); nil runs ctrl without a service.
    public var servicePort: Int? = 0
    /// An OSMO service elsewhere (`http(s)://host:port`) and the refresh token file to present;
    /// replaces the embedded one.
    public var externalService: (url: String, refreshTokenFile: String)?
    let keep: Bool
    let executable: String
    private let signals: SignalChannel

    public init(plan: PodPlan, podDirectory: String?, keep: Bool, executable: String) throws {
        self.plan = plan
        self.executable = executable
        signals = try SignalChannel([SIGINT, SIGTERM, SIGCHLD])
        // Orphans of the pod's processes come to us, so the pod's end can end them too.
        ProcessControl.becomeSubreaper()
        if let podDirectory {
            try FileSystem.makeDirectory(podDirectory, mode: 0o755)
            self.podDirectory = FileSystem.realPath(podDirectory) ?? podDirectory
            self.keep = true
        } else {
            var template = Array("/tmp/osmo-pod-XXXXXX".utf8CString)
            guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
                throw OsmoError(.io, "cannot create a pod directory in /tmp: \(SystemCall.describe(errno: errno))")
            }
            self.podDirectory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            self.keep = keep
        }
    }

    /// Runs the pod; returns the task's exit status (the user's, or ctrl's code if the command
    /// succeeded but ctrl failed).
    public func run() throws -> Int32 {
        let layout = PodPlan.Layout.local(podDirectory)
        defer { if !keep { try? FileSystem.removeTree(podDirectory) } }
        try FileSystem.makeDirectory(Path.join(podDirectory, "argv"), mode: 0o755)

        let initArguments = plan.initArguments(layout)
        try record("init", initArguments)
        let initLog = try openLog("init.log")
        let initChild = try ChildProcess.spawn(
            executable: executable, arguments: ["osmo-init"] + initArguments,
            environment: ChildProcess.currentEnvironment, stdout: initLog, stderr: initLog)
        close(initLog)
        let initStatus = try waitBlocking(initChild)
        guard initStatus == 0 else {
            let text = (try? FileSystem.readText(Path.join(podDirectory, "init.log"))) ?? ""
            throw OsmoError(.io, "osmo-init failed (exit \(initStatus)): \(text.trimmingSpaces())")
        }

        let ctrlArguments = plan.ctrlArguments(layout, service: ["-logFile", Path.join(podDirectory, "task-log.jsonl")] + (try startService()))
        try record("ctrl", ctrlArguments)
        let ctrl = try ChildProcess.spawn(
            executable: layout.ctrlExecutable, arguments: [layout.ctrlExecutable] + ctrlArguments,
            environment: ChildProcess.currentEnvironment + ["OSMO_TERMINATION_LOG=\(Path.join(podDirectory, "ctrl.termination-log"))"],
            stdout: 1, stderr: 2, group: .newProcessGroup)

        let wrapperArguments = plan.wrapperArguments(layout)
        try record("user", wrapperArguments)
        let userLog = try openLog("user-container.log")
        let wrapper: ChildProcess
        do {
            wrapper = try ChildProcess.spawn(
                executable: layout.wrapperExecutable, arguments: [layout.wrapperExecutable] + wrapperArguments,
                environment: ChildProcess.currentEnvironment + plan.environment,
                stdin: -1, stdout: userLog, stderr: userLog, group: .newProcessGroup)
        } catch {
            ctrl.signal(SIGKILL, group: true)
            close(userLog)
            throw error
        }
        close(userLog)
        let (userStatus, ctrlStatus) = try supervise(ctrl: ctrl, wrapper: wrapper)
        // The pod is over: nothing started in it outlives it (a command's own process group
        // whose wrapper was killed was reparented to us).
        ProcessControl.killRemainingChildren()
        if userStatus != 0 { return userStatus }
        return ctrlStatus
    }

    /// Starts the embedded service and returns ctrl's flags to reach it.
    private func startService() throws -> [String] {
        if let externalService {
            let url = externalService.url
            let secure = url.hasPrefix("https://")
            guard secure || url.hasPrefix("http://") else { throw OsmoError(.usage, "--service takes http(s)://HOST:PORT, got '\(url)'") }
            let hostPort = url.dropFirst(secure ? 8 : 7).prefix { $0 != "/" }
            guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]) else {
                throw OsmoError(.usage, "--service needs an explicit port: '\(url)'")
            }
            return ["-host", String(hostPort[..<colon]), "-port", "\(port)", "-scheme", secure ? "wss" : "ws",
                    "-refreshScheme", secure ? "https" : "http", "-refreshToken", FileSystem.realPath(externalService.refreshTokenFile) ?? externalService.refreshTokenFile]
        }
        guard let servicePort else { return [] }
        let tokenPath = Path.join(podDirectory, "refresh_token")
        var settings = LocalService.Settings()
        settings.port = servicePort
        settings.logDirectory = Path.join(podDirectory, "service")
        settings.refreshToken = LocalService.newRefreshToken()
        settings.echo = false
        settings.groupSizes = [plan.group: 1]
        if let rsync = plan.rsync {
            settings.rsyncWorkflows = [plan.workflow]
            settings.rsyncAllowedPaths = rsync.paths.compactMap { entry in
                let parts = entry.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                return parts.count == 3 ? RsyncModule(name: parts[0], path: parts[1], writable: parts[2] == "true") : nil
            }
        }
        try FileSystem.replaceContents(tokenPath, with: Array(settings.refreshToken.utf8), mode: 0o600)
        let service = LocalService(settings)
        let bound = ConditionLock<Result<Int, OsmoError>?>(nil)
        Task.detached {
            do {
                try await service.run { port in bound.withLock { $0 = .success(port) } }
            } catch {
                bound.withLock { $0 = .failure(OsmoError(.io, "cannot serve on 127.0.0.1:\(servicePort): \(error)")) }
            }
        }
        guard let result = bound.wait(timeout: 20, until: { $0 }) else { throw OsmoError(.io, "the embedded service did not start within 20 s") }
        let port = try result.get()
        try FileSystem.replaceContents(Path.join(podDirectory, "service-url"), with: Array("http://127.0.0.1:\(port)\n".utf8))
        let note = "osmo pod: service on http://127.0.0.1:\(port); from another terminal: osmo exec \(plan.workflow) \(plan.taskName) --service http://127.0.0.1:\(port)\n"
        try? FileSystem.writeAll(2, note, what: "stderr")
        return ["-host", "127.0.0.1", "-port", "\(port)", "-scheme", "ws", "-refreshScheme", "http", "-refreshToken", tokenPath]
    }

    /// Waits for both containers, turning Ctrl-C / SIGTERM into a pod deletion.
    private func supervise(ctrl: ChildProcess, wrapper: ChildProcess) throws -> (user: Int32, ctrl: Int32) {
        var userStatus: Int32?
        var ctrlStatus: Int32?
        var stops = 0
        // ctrl ends before the user container only when it failed: a wrapper that never got its
        // ExecStart would otherwise wait out its -unixTimeout (two hours). After a grace period
        // (for CtrlFailed to reach it) the pod ends, with ctrl's code.
        var ctrlEndedAt: Double?
        var stoppedForCtrl = false
        while userStatus == nil || ctrlStatus == nil {
            if let ended = ctrlEndedAt, userStatus == nil, !stoppedForCtrl, Clock.now - ended > Self.wrapperGrace {
                OsmoPodOutput.note("osmo-ctrl exited (code \(ctrlStatus ?? -1)) and the user container did not end within \(Int(Self.wrapperGrace)) s: stopping it")
                wrapper.signal(SIGKILL, group: true)
                stoppedForCtrl = true
            }
            for (child, isUser) in [(wrapper, true), (ctrl, false)] where (isUser ? userStatus : ctrlStatus) == nil {
                var status: Int32 = 0
                var usage = rusage()
                if wait4(child.pid, &status, WNOHANG, &usage) == child.pid {
                    let code = ChildProcess.Termination(waitStatus: status).exitStatus
                    if isUser { userStatus = code } else { ctrlStatus = code; ctrlEndedAt = Clock.now }
                    if reportUsage { report(isUser ? "osmo_exec (user container)" : "osmo-ctrl", usage, code) }
                }
            }
            if userStatus != nil && ctrlStatus != nil { break }
            _ = try Poll.wait(signals.fd, events: Int16(POLLIN), timeoutMilliseconds: 200)
            let stopping = signals.drain().contains { $0 == SIGINT || $0 == SIGTERM }
            if stopping {
                stops += 1
                if stops == 1 {
                    OsmoPodOutput.note("stopping the pod: SIGTERM to the task (outputs are still uploaded); again to kill")
                    for child in [wrapper, ctrl] { child.signal(SIGTERM) }
                } else {
                    OsmoPodOutput.note("killing the pod")
                    for child in [wrapper, ctrl] { child.signal(SIGKILL, group: true) }
                }
            }
        }
        return (stoppedForCtrl ? 0 : userStatus!, ctrlStatus!)
    }

    /// How long the user container may outlive a failed ctrl.
    static let wrapperGrace = 5.0

    private func report(_ name: String, _ usage: rusage, _ status: Int32) {
        let cpu = { (t: timeval) in Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        let user = cpu(usage.ru_utime), system = cpu(usage.ru_stime)
        let round = { (x: Double) in Double(Int(x * 1000)) / 1000 }
        OsmoPodOutput.note("\(name) exited \(status): cpu \(round(user + system)) s (user \(round(user)), sys \(round(system))), peak RSS \(usage.ru_maxrss / 1024) MiB (\(usage.ru_maxrss) KiB)")
    }

    private func waitBlocking(_ child: ChildProcess) throws -> Int32 {
        try child.wait().exitStatus
    }

    private func openLog(_ name: String) throws -> Int32 {
        let path = Path.join(podDirectory, name)
        return try SystemCall.retrying("cannot create \(path)") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
    }

    /// Each container's exact argv, one argument per line, for inspection and for the test that
    /// compares them with `osmo pod manifest`.
    private func record(_ name: String, _ arguments: [String]) throws {
        try FileSystem.writeAtomically(Array((arguments.joined(separator: "\n") + "\n").utf8), to: Path.join(podDirectory, "argv", name))
    }
}

/// pod run's own notes on stderr, distinct from the task log on stdout.
enum OsmoPodOutput {
    static func note(_ text: String) {
        try? FileSystem.writeAll(2, "osmo pod: \(text)\n", what: "stderr")
    }
}
