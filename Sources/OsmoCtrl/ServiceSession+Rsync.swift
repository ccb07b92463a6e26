import OsmoNet
import OsmoProtocol

extension ServiceSession {
    /// The wrapper reported its rsync daemon running (or not), every 5 s.
    public func rsyncStatus(_ running: Bool) {
        rsyncRunning.store(running, ordering: .relaxed)
    }

    /// The `rsync` action (the reference's `ActionRsync`): refused until the wrapper has reported
    /// its daemon running; then a port-forward whose control connection is
    /// `/api/router/rsync/{wf}/backend/{key}` and whose connections (`/api/router/portforward/…`)
    /// all go to the daemon's port, whatever port the action names.
    func rsync(_ action: ServiceAction) {
        guard rsyncRunning.load(ordering: .relaxed) else {
            note("User Rsync is not running/ready for connection")
            return
        }
        var forward = action
        forward.taskPort = RsyncPort.current
        forward.useUDP = false
        Task.detached { await self.backend.portForward(forward) }
    }
}
