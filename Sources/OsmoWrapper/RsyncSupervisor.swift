import Glibc
import Logging
import OsmoCore
import OsmoProtocol
import OsmoSystem

/// Keeps the task's rsync daemon (`RsyncDaemon`, this binary re-run as `osmo_exec -rsyncDaemon`)
/// running for the wrapper: started in its own process group, started again (1 s, doubling to
/// 30 s) when it dies, stopped with its whole group when the task ends; `UserRsyncStatus` goes to
/// ctrl when it starts or ends and every 5 s, as the reference's `monitorRsync`.
///
/// Driven from the wrapper's poll loop only (`nextDeadline`, `tick`, `ended`): no threads.
final class RsyncSupervisor {
    let options: WrapperOptions
    let logger: Logger
    let port: Int
    private(set) var child: ChildProcess?
    private var restartAt: Double?
    private var nextStatus = 0.0
    private var delay = 1.0
    private var startedAt = 0.0
    static let statusInterval = 5.0

    init(options: WrapperOptions, logger: Logger, port: Int) {
        self.options = options
        self.logger = logger
        self.port = port
    }

    var running: Bool { child != nil }

    var nextDeadline: Double? {
        [restartAt, nextStatus].compactMap { $0 }.min()
    }

    /// The daemon's argv: the wrapper's own flags for it.
    var arguments: [String] {
        var args = ["osmo_exec", "-rsyncDaemon", "-rsyncPort", "\(port)", "-runLocation", options.runLocation,
                    "-rsyncReadLimit", "\(options.rsyncReadLimit)", "-rsyncWriteLimit", "\(options.rsyncWriteLimit)"]
        if !options.rsyncPathAllowList.isEmpty { args += ["-rsyncPathAllowList", options.rsyncPathAllowList] }
        return args
    }

    func start(_ channel: MessageChannel?) {
        restartAt = nil
        guard let executable = ExecutableLocation.current() else {
            logger.error("rsync: cannot find the osmo executable to start the daemon")
            return
        }
        do {
            child = try ChildProcess.spawn(executable: executable, arguments: arguments, environment: ChildProcess.currentEnvironment, group: .newProcessGroup)
            startedAt = Clock.now
        } catch {
            logger.error("rsync: cannot start the daemon: \(error)")
            restartAt = Clock.now + delay
            delay = min(delay * 2, 30)
        }
        sendStatus(channel)
    }

    /// A reaped child: true if it was the daemon (then a restart is scheduled).
    func ended(pid: pid_t, _ termination: ChildProcess.Termination, _ channel: MessageChannel?) -> Bool {
        guard let child, child.pid == pid else { return false }
        self.child = nil
        // Killed at once (bad flags, port taken): back off; after a long run, restart soon.
        if Clock.now - startedAt > 60 { delay = 1 }
        logger.warning("rsync daemon \(termination): restarting it in \(Int(delay)) s")
        restartAt = Clock.now + delay
        delay = min(delay * 2, 30)
        sendStatus(channel)
        return true
    }

    func tick(_ channel: MessageChannel?) {
        let now = Clock.now
        if let restartAt, now >= restartAt { start(channel) }
        if now >= nextStatus { sendStatus(channel) }
    }

    private func sendStatus(_ channel: MessageChannel?) {
        nextStatus = Clock.now + Self.statusInterval
        var message = SocketMessage(.userRsyncStatus)
        message.rsyncRunning = running
        try? channel?.send(message)
    }

    /// SIGTERM to the daemon's group, SIGKILL after a second.
    func stop() {
        restartAt = nil
        guard let child else { return }
        self.child = nil
        child.signal(SIGTERM, group: true)
        let deadline = Clock.now + 1
        var status: Int32 = 0
        while Clock.now < deadline {
            if waitpid(child.pid, &status, WNOHANG) == child.pid { break }
            usleep(10_000)
        }
        child.signal(SIGKILL, group: true)
    }
}
