import FoundationEssentials
import OsmoCore
import OsmoNet
import OsmoTransfer

/// The workstation's view of the OSMO service: the action API (`POST …/exec/task/{task}`,
/// `…/portforward/{task}`) and the router addresses it answers with.
public struct ServiceClient: Sendable {
    /// How the CLI proves who it is.
    public enum Credentials: Sendable {
        case none
        /// Sent as `Authorization: Bearer …`.
        case bearer(String)
        /// The reference CLI's login file (`LoginFile`).
        case login(LoginFile)
    }

    /// `http(s)://host:port`
    public var baseURL: String
    public var credentials: Credentials

    public init(baseURL: String, credentials: Credentials) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.credentials = credentials
    }

    /// The identity headers of every request and websocket.
    public func identityHeaders() async throws -> [(name: String, value: String)] {
        switch credentials {
        case .none: []
        case .bearer(let token): token.isEmpty ? [] : [(name: "Authorization", value: "Bearer \(token)")]
        case .login(let file): try await file.headers()
        }
    }

    /// Where to meet the task: `{router_address, key, cookie}`.
    public struct RouterInfo: Decodable, Sendable {
        public var routerAddress: String
        public var key: String
        public var cookie: String
        enum CodingKeys: String, CodingKey { case key, cookie, routerAddress = "router_address" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            routerAddress = try c.decode(String.self, forKey: .routerAddress)
            key = try c.decode(String.self, forKey: .key)
            cookie = try c.decodeIfPresent(String.self, forKey: .cookie) ?? ""
        }

        /// The client side of a router session.
        public func url(_ kind: String, workflow: String, key: String? = nil) -> String {
            let base = routerAddress.hasSuffix("/") ? String(routerAddress.dropLast()) : routerAddress
            return "\(base)/api/router/\(kind)/\(workflow)/client/\(key ?? self.key)"
        }
    }

    public func exec(workflow: String, task: String, entry: String) async throws -> RouterInfo {
        let body = try await post("/api/workflow/\(URLQuery.escape(workflow))/exec/task/\(URLQuery.escape(task))", query: [("entry_command", entry)])
        return try decode(RouterInfo.self, body, what: "exec")
    }

    public func portForward(workflow: String, task: String, port: Int, udp: Bool) async throws -> RouterInfo {
        let body = try await post("/api/workflow/\(URLQuery.escape(workflow))/portforward/\(URLQuery.escape(task))", query: [("task_ports", "\(port)"), ("use_udp", udp ? "true" : "false")])
        if let list = try? JSONDecoder().decode([RouterInfo].self, from: Data(body)), let first = list.first { return first }
        return try decode(RouterInfo.self, body, what: "port-forward")
    }

    /// Headers for the router's client side.
    public func routerHeaders(cookie: String) async throws -> [(name: String, value: String)] {
        var headers = try await identityHeaders()
        if !cookie.isEmpty { headers.append((name: "Cookie", value: cookie)) }
        return headers
    }

    func post(_ path: String, query: [(String, String)]) async throws -> [UInt8] {
        let queryText = query.map { "\($0.0)=\(URLQuery.escape($0.1))" }.joined(separator: "&")
        var headers = ["Content-Type: application/json"]
        for header in try await identityHeaders() { headers.append("\(header.name): \(header.value)") }
        var request = HTTPRequest(url: "\(baseURL)\(path)?\(queryText)", method: "POST", headers: headers, body: [], label: "\(baseURL)\(path)")
        request.acceptAnyStatus = true
        request.verifyPeer = ServiceTLS.verify
        let response = try await TransferEngine.shared().response(to: request)
        guard response.status == 200 else {
            let detail = String(decoding: response.body.prefix(300), as: UTF8.self)
            let code: OsmoError.Code = response.status == 401 || response.status == 403 ? .unauthorized : .protocolViolation
            throw OsmoError(code, "the service answered HTTP \(response.status) to POST \(path): \(detail)")
        }
        return response.body
    }

    func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8], what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw OsmoError(.protocolViolation, "unexpected \(what) answer from the service: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
    }
}
