import Hummingbird
import HummingbirdWebSocket
import NIOCore
import OsmoNet

extension LocalService {
    /// The action API: queue an action for the task's ctrl and tell the caller where to meet it.
    func addActionRoutes(_ http: Router<ServiceRequestContext>) {
        http.post("/api/workflow/{workflow}/exec/task/{task}") { request, context -> Response in
            if let refusal = self.refuseUnauthenticated(request) { return refusal }
            let workflow = try context.parameters.require("workflow"), task = try context.parameters.require("task")
            if let refusal = self.refuseUnknown(workflow, task) { return refusal }
            let entry = request.uri.queryParameters["entry_command"].map { URLQuery.unescape(String($0)) } ?? "/bin/bash"
            let answer = self.queueAction(.exec, workflow: workflow, task: task) { $0.entryCommand = entry }
            return Self.json(.ok, answer)
        }
        http.post("/api/workflow/{workflow}/portforward/{task}") { request, context -> Response in
            if let refusal = self.refuseUnauthenticated(request) { return refusal }
            let workflow = try context.parameters.require("workflow"), task = try context.parameters.require("task")
            if let refusal = self.refuseUnknown(workflow, task) { return refusal }
            let query = request.uri.queryParameters
            let ports = query.getAll("task_ports").compactMap { Int($0) }
            guard !ports.isEmpty else { return Self.json(.badRequest, "{\"message\":\"No port is provided!\",\"error_code\":\"USER\"}") }
            let udp = query["use_udp"].map { $0.lowercased() == "true" } ?? false
            let answers = ports.map { port in
                self.queueAction(.portforward, workflow: workflow, task: task) {
                    $0.taskPort = port
                    $0.useUDP = udp
                }
            }
            return Self.json(.ok, "[" + answers.joined(separator: ",") + "]")
        }
        self.addRsyncRoutes(http)
        // Ours (the real service restarts tasks from its own logic): ask a task's ctrl to restart
        // the command.
        http.post("/api/workflow/{workflow}/restart/task/{task}") { request, context -> Response in
            if let refusal = self.refuseUnauthenticated(request) { return refusal }
            let workflow = try context.parameters.require("workflow"), task = try context.parameters.require("task")
            self.state.queue(workflow, task).push("{\"action\": \"restart\"}")
            return Self.json(.ok, "{}")
        }
        http.post("/api/workflow/{workflow}/webserver/{task}") { request, context -> Response in
            if let refusal = self.refuseUnauthenticated(request) { return refusal }
            let workflow = try context.parameters.require("workflow"), task = try context.parameters.require("task")
            if let refusal = self.refuseUnknown(workflow, task) { return refusal }
            guard let port = request.uri.queryParameters["task_port"].flatMap({ Int($0) }) else {
                return Self.json(.badRequest, "{\"message\":\"task_port is required\",\"error_code\":\"USER\"}")
            }
            return Self.json(.ok, self.queueAction(.webserver, workflow: workflow, task: task) { $0.taskPort = port })
        }
    }

    /// 401 for a request without a live token, when the service is reachable beyond loopback.
    func refuseUnauthenticated(_ request: Request) -> Response? {
        guard settings.requiresAuthentication, !authorized(request.headers) else { return nil }
        return Self.json(.unauthorized, "{\"message\":\"A token is required (Authorization: Bearer …): this service listens beyond loopback\",\"error_code\":\"USER\"}")
    }

    /// 404 for a task whose ctrl never connected (a typo, or a task not started yet).
    func refuseUnknown(_ workflow: String, _ task: String) -> Response? {
        guard !state.knownTasks.withLock({ $0.contains("\(workflow)/\(task)") }) else { return nil }
        return Self.json(.notFound, "{\"message\":\"Task \(task) of workflow \(workflow) is not running (its osmo-ctrl has not connected to this service)\",\"error_code\":\"USER\"}")
    }

    /// Queues the action and returns `{"router_address","key","cookie"}`.
    func queueAction(_ kind: ServiceAction.Kind, workflow: String, task: String, configure: (inout ServiceAction) -> Void) -> String {
        let key = "\(kind.rawValue.uppercased())-" + String(UInt64.random(in: .min ... .max), radix: 16)
        var action = ServiceAction(kind, routerAddress: routerAddress, key: key, cookie: "")
        configure(&action)
        state.queue(workflow, task).push(action.json)
        return "{\"router_address\":\(ServiceAction.quote(routerAddress)),\"key\":\(ServiceAction.quote(key)),\"cookie\":\"\"}"
    }

    /// `/api/router/{kind}/{workflow}/{backend|client}/{key}`; the backend side needs a token.
    func addRouterRoutes(_ sockets: Router<ServiceRequestContext>) {
        for kind in ["exec", "portforward", "webserver", "rsync"] {
            for side in ["backend", "client"] {
                sockets.ws("/api/router/\(kind)/{workflow}/\(side)/{key}") { request, _ in
                    // The client side is open on loopback (the CLI of the same user); beyond
                    // it every side needs a token.
                    (side == "client" && !self.settings.requiresAuthentication) || self.authorized(request.headers) ? .upgrade([:]) : .dontUpgrade
                } onUpgrade: { inbound, outbound, context in
                    let key = try context.requestContext.parameters.require("key")
                    // TEXT frames are data only for browser websockets, which travel the webserver
                    // control path and the portforward data path; exec and rsync carry bytes only.
                    _ = await self.router.join(key: key, allowText: kind == "webserver" || kind == "portforward", inbound, outbound, context.requestContext.pacer)
                }
            }
        }
    }
}
