import Hummingbird
import HummingbirdWebSocket
import OsmoCore
import OsmoNet

extension LocalService {
    /// `POST /api/workflow/{wf}/rsync/task/{task}` (the reference's `rsync_task`: 403 unless the
    /// workflow has the rsync plugin) and `GET /api/plugins/configs` (the part the CLI reads:
    /// `rsync.enabled` and `rsync.allowed_paths`).
    func addRsyncRoutes(_ http: Router<ServiceRequestContext>) {
        http.post("/api/workflow/{workflow}/rsync/task/{task}") { request, context -> Response in
            if let refusal = self.refuseUnauthenticated(request) { return refusal }
            let workflow = try context.parameters.require("workflow"), task = try context.parameters.require("task")
            guard self.settings.rsyncWorkflows.contains(workflow) else {
                return Self.json(.forbidden, "{\"message\":\"Rsync is not enabled for this workflow!\",\"error_code\":\"USER\",\"workflow_id\":\(ServiceAction.quote(workflow))}")
            }
            if let refusal = self.refuseUnknown(workflow, task) { return refusal }
            return Self.json(.ok, self.queueAction(.rsync, workflow: workflow, task: task) { $0.enableTelemetry = false })
        }
        http.get("/api/plugins/configs") { request, _ -> Response in
            if let refusal = self.refuseUnauthenticated(request) { return refusal }
            let paths = self.settings.rsyncAllowedPaths.map { "\(ServiceAction.quote($0.name)):{\"path\":\(ServiceAction.quote($0.path)),\"writable\":\($0.writable)}" }
            let enabled = !self.settings.rsyncWorkflows.isEmpty
            return Self.json(.ok, "{\"rsync\":{\"enabled\":\(enabled),\"allowed_paths\":{\(paths.joined(separator: ","))}}}")
        }
    }
}
