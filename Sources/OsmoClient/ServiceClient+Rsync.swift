import FoundationEssentials
import OsmoCore
import OsmoNet
import OsmoTransfer

extension ServiceClient {
    /// `POST /api/workflow/{wf}/rsync/task/{task}`: an rsync session with the task's daemon.
    public func rsync(workflow: String, task: String) async throws -> RouterInfo {
        let body = try await post("/api/workflow/\(URLQuery.escape(workflow))/rsync/task/\(URLQuery.escape(task))", query: [])
        return try decode(RouterInfo.self, body, what: "rsync")
    }

    /// The rsync plugin's modules beyond `osmo` (`GET /api/plugins/configs`, `rsync.allowed_paths`),
    /// as the reference CLI reads them; none when the service does not say.
    public func rsyncAllowedPaths() async throws -> [RsyncModule] {
        let response = try await send("GET", "/api/plugins/configs")
        guard response.status == 200 else {
            OsmoClientLog.note("the service answered HTTP \(response.status) to GET /api/plugins/configs: only the workspace module (/osmo/run/workspace) is known")
            return []
        }
        struct Configs: Decodable {
            struct Rsync: Decodable {
                struct Allowed: Decodable { var path: String; var writable: Bool? }
                var allowed_paths: [String: Allowed]?
            }
            var rsync: Rsync?
        }
        guard let configs = try? JSONDecoder().decode(Configs.self, from: Data(response.body)) else {
            throw OsmoError(.protocolViolation, "unexpected plugin configs from the service: \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        return (configs.rsync?.allowed_paths ?? [:]).map { RsyncModule(name: $0.key, path: $0.value.path, writable: $0.value.writable ?? false) }.sorted { $0.name < $1.name }
    }
}
