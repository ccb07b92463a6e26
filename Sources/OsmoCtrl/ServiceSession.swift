import Glibc
import OsmoCore
import OsmoData
import OsmoNet
import OsmoProtocol
import OsmoSystem
import Synchronization

/// Everything ctrl does with the OSMO service (PROTOCOL.md §6–7): the logger link and its sink,
/// actions (exec, port-forward, webserver, rsync, barrier, restart), barrier waits, metrics, and the
/// final flush. Actions never block the link: each runs on its own task or thread.
public final class ServiceSession: Sendable {
    let options: CtrlOptions
    let service: ServiceOptions
    public let tokens: TokenSource
    public let buffer: LogBuffer
    public let link: ServiceLink
    public let sink: ServiceLogSink
    let backend: RouterBackend
    /// A line for the service (and ctrl's own output): the reference's texts only.
    let log: @Sendable (String) -> Void
    /// A line for ctrl's own output only (connection state, actions, router sessions).
    let note: @Sendable (String) -> Void
    /// Exec requests waiting for the wrapper to dial back, oldest first.
    let pendingExecs = Mutex([(action: ServiceAction, deadline: Double)]())
    let channel = Mutex<MessageChannel?>(nil)
    /// Barrier releases received and not yet consumed; restart bookkeeping.
    let barrier = ConditionLock((released: 0, waiting: false, stopFinished: 0))
    let commandRunning = Atomic(false)
    /// The wrapper's last `UserRsyncStatus`.
    let rsyncRunning = Atomic(false)
    let stopped = Flag()

    public init(
        options: CtrlOptions, service: ServiceOptions, log: @escaping @Sendable (String) -> Void,
        note: @escaping @Sendable (String) -> Void, fatal: @escaping @Sendable (ExitCode, String) -> Void
    ) {
        self.options = options
        self.service = service
        self.log = log
        self.note = note
        var settings = TokenSource.Settings(serviceURL: "\(service.refreshScheme)://\(service.host):\(service.port)", refreshTokenFile: service.refreshTokenFile)
        settings.workflow = options.workflow
        settings.group = options.groupName
        settings.task = options.logSource
        settings.retry = options.retryID
        settings.header = service.tokenHeader
        let tokens = TokenSource(settings)
        self.tokens = tokens
        let source = options.logSource
        buffer = LogBuffer(capacity: service.logsBufferSize) { dropped in
            let now = Clock.wall
            return ServiceFrames.frame(ServiceFrames.log(
                source: source, time: LogTime.rfc3339(now.seconds, now.nanoseconds),
                text: "WARNING: Maximum logging rate exceeded, \(dropped) lines have been dropped!", ioType: "STDERR"
            ))
        }
        sink = ServiceLogSink(buffer: buffer)
        backend = RouterBackend(workflow: options.workflow, tokens: tokens, note: note)
        let url = "\(service.scheme)://\(service.host):\(service.port)/api/logger/workflow/\(options.workflow)/osmo_ctrl/\(options.logSource)/retry_id/\(options.retryID)"
        var linkSettings = ServiceLink.Settings(url: url, budgetSeconds: Double(service.timeoutMinutes) * 60)
        linkSettings.batch = 1024
        let handler = ActionHandler()
        link = ServiceLink(
            settings: linkSettings, buffer: buffer, tokens: tokens,
            logDoneFrame: {
                let now = Clock.wall
                return ServiceFrames.frame(ServiceFrames.logDone(source: source, time: LogTime.rfc3339(now.seconds, now.nanoseconds)))
            },
            onAction: { action in handler.session?.handle(action) },
            onEvent: { event in
                switch event {
                case .note(let text): note(text)
                case .reconnected(let tries): log("Websocket Connection: \(tries)")
                case .fatal(let code, let message): fatal(code, message)
                }
            }
        )
        handler.session = self
    }

    /// Lets the link's callback reach the session built after it.
    final class ActionHandler: @unchecked Sendable {
        weak var session: ServiceSession?
    }

    /// Connects in the background (before the wrapper is there, so even a wrapper that never
    /// comes is reported to the service).
    public func connect() {
        link.start()
    }

    /// Exec sessions can be served from now on.
    public func serveSessions(channel: MessageChannel, listener: UnixListener) {
        self.channel.withLock { $0 = channel }
        ThreadStarter.detach { [self] in acceptExecSessions(listener) }
    }

    // MARK: actions

    func handle(_ action: ServiceAction) {
        switch action.action {
        case .exec:
            note("Received exec action: \(action.entryCommand)")
            requestExec(action)
        case .portforward, .webserver:
            note("Received \(action.action.rawValue) action for port \(action.taskPort)\(action.useUDP ? " (UDP)" : "")")
            Task.detached { await self.backend.portForward(action) }
        case .barrier:
            // As the reference: a release that comes while ctrl is not waiting is stale.
            barrier.withLock { if $0.waiting { $0.released += 1 } }
        case .restart:
            log("Receive restart action")
            ThreadStarter.detach { [self] in restart() }
        case .rsync:
            log("Receive rsync action")
            rsync(action)
        case .logDone:
            break
        }
    }

    private func requestExec(_ action: ServiceAction) {
        guard let channel = channel.withLock({ $0 }) else { return }
        pendingExecs.withLock { $0.append((action, Clock.now + Double(options.execTimeoutMinutes) * 60)) }
        do {
            try channel.send(SocketMessage(.userExecStart, command: action.entryCommand))
        } catch {
            pendingExecs.withLock { $0.removeAll { $0.action.key == action.key } }
            note("Exec: cannot ask osmo_exec for a session: \(error)")
        }
    }

    /// The wrapper dials back once per `UserExecStart`, in order: each connection serves the
    /// oldest request still waiting.
    private func acceptExecSessions(_ listener: UnixListener) {
        while !stopped.isSet {
            guard let socket = try? listener.accept(timeoutMilliseconds: 1000) else { continue }
            let now = Clock.now
            let action = pendingExecs.withLock { pending -> ServiceAction? in
                let expired = pending.filter { $0.deadline < now }
                pending.removeAll { $0.deadline < now }
                for old in expired { note("Exec: osmo_exec did not open session \(old.action.key) in time") }
                return pending.isEmpty ? nil : pending.removeFirst().action
            }
            guard let action else {
                note("Exec: ignoring a connection on the socket with no exec request waiting")
                continue
            }
            let fd = socket.release()
            Task.detached { await self.backend.exec(action, fd: fd) }
        }
    }

    // MARK: barrier and restart

    /// Joins barrier `name` and waits for the service's `barrier` action, re-sending the request
    /// every `barrierResendSeconds`. Returns false when `interrupted` says to stop waiting.
    public func waitForBarrier(_ name: String, interrupted: () -> Bool) -> Bool {
        log("Waiting for group ready ...")
        note("Barrier: \(name)")
        barrier.withLock { $0.waiting = true; $0.released = 0 }
        defer { barrier.withLock { $0.waiting = false } }
        var nextSend = 0.0
        while true {
            if Clock.now >= nextSend {
                buffer.append(ServiceFrames.frame(ServiceFrames.barrier(name: name)))
                nextSend = Clock.now + service.barrierResendSeconds
            }
            let released = barrier.wait(timeout: 0.2) { state -> Bool? in
                guard state.released > 0 else { return nil }
                state.released -= 1
                return true
            }
            if released == true {
                log("Group ready")
                return true
            }
            if interrupted() { return false }
        }
    }

    public func commandStarted(_ running: Bool) { commandRunning.store(running, ordering: .relaxed) }

    public func stopFinished() { barrier.withLock { $0.stopFinished += 1 } }

    /// UserStop → UserStopFinished → barrier again → UserStart (the reference's order). Skipped
    /// while the command has not started yet.
    private func restart() {
        guard commandRunning.load(ordering: .relaxed), let channel = channel.withLock({ $0 }) else {
            note("Skipping restart: the command has not started")
            return
        }
        let before = barrier.withLock { $0.stopFinished }
        do { try channel.send(SocketMessage(.userStop)) } catch {
            log("Failed to send stop request")
            note("Restart: cannot send UserStop: \(error)")
            return
        }
        guard barrier.wait(timeout: 120, until: { $0.stopFinished > before ? true : nil }) != nil else {
            note("Restart: osmo_exec did not confirm the stop within 120 s")
            return
        }
        if !options.barrier.isEmpty {
            _ = waitForBarrier(options.barrier) { stopped.isSet }
        }
        do { try channel.send(SocketMessage(.userStart)) } catch {
            log("Restart: cannot send UserStart: \(error)")
            return
        }
        note("Restarted the command")
    }

    // MARK: metrics

    /// `group_metrics` for `input_download` / `output_upload`.
    public func groupMetric(_ type: String, start: Double, end: Double) {
        let metric = "{\"retry_id\":\(GoJSON.quote(options.retryID)),\"start_time\":\"\(LogTime.metrics(start))\",\"end_time\":\"\(LogTime.metrics(end))\",\"type_of_metrics\":\"\(type)\"}"
        sendMetric("group_metrics", metric)
    }

    /// `task_io_metrics` for one input or output transfer.
    public func transferMetric(_ record: TransferRecord, output: Bool) {
        let metric = "{\"retry_id\":\(GoJSON.quote(options.retryID)),\"group_name\":\(GoJSON.quote(options.groupName)),\"task_name\":\(GoJSON.quote(options.logSource)),"
            + "\"url\":\(GoJSON.quote(record.url)),\"type\":\"\(output ? "OUTPUT" : "INPUT")\",\"start_time\":\"\(LogTime.metrics(record.start))\","
            + "\"end_time\":\"\(LogTime.metrics(record.end))\",\"size_in_bytes\":\(record.bytes),\"number_of_files\":\(record.files),"
            + "\"operation_type\":\"Url\",\"download_type\":\"\(output ? "N/A" : "download")\"}"
        sendMetric("task_io_metrics", metric)
    }

    private func sendMetric(_ type: String, _ metric: String) {
        let now = Clock.wall
        buffer.append(ServiceFrames.frame(ServiceFrames.metrics(source: options.logSource, time: LogTime.rfc3339(now.seconds, now.nanoseconds), type: type, metric: metric)))
    }

    // MARK: end

    /// Blocks until the service link has been up once, so the command starts only once the
    /// service has accepted the task (RUNNING), as in the reference. Returns false when
    /// `interrupted` says to stop waiting or the link gave up.
    public func waitUntilAccepted(interrupted: () -> Bool) -> Bool {
        while !link.waitUntilConnected(timeout: 0.2) {
            if interrupted() || stopped.isSet { return false }
        }
        return true
    }

    /// Waits (up to `timeout`) until the service acknowledged every line, then closes the link.
    @discardableResult
    public func finish(timeout: Double) -> Bool {
        let complete = link.flush(timeout: timeout)
        stopped.set()
        link.stop()
        return complete
    }
}
