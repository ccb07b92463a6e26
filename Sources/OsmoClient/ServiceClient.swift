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
        let response = try await send("POST", path, query: query)
        guard response.status == 200 else {
            let detail = String(decoding: response.body.prefix(300), as: UTF8.self)
            let code: OsmoError.Code = response.status == 401 || response.status == 403 ? .unauthorized : .protocolViolation
            throw OsmoError(code, "the service answered HTTP \(response.status) to POST \(path): \(detail)")
        }
        return response.body
    }

    /// One request to the service with our identity, any status returned as it is.
    func send(_ method: String, _ path: String, query: [(String, String)] = []) async throws -> HTTPResponse {
        let queryText = query.map { "\($0.0)=\(URLQuery.escape($0.1))" }.joined(separator: "&")
        var headers = method == "POST" ? ["Content-Type: application/json"] : []
        for header in try await identityHeaders() { headers.append("\(header.name): \(header.value)") }
        // A GET without a body: with one, curl makes it a POST.
        var request = HTTPRequest(url: "\(baseURL)\(path)\(queryText.isEmpty ? "" : "?" + queryText)", method: method, headers: headers,
                                  body: method == "POST" ? [] : nil, label: "\(baseURL)\(path)")
        request.acceptAnyStatus = true
        request.verifyPeer = ServiceTLS.verify
        // Someone is waiting at a terminal: a refused connection or an unknown host is said at
        // once (one retry for a blip), not after the data plane's eight attempts.
        request.maxAttempts = 2
        let response: HTTPResponse
        do {
            response = try await TransferEngine.shared().response(to: request)
        } catch let error as OsmoError {
            throw Self.unreachable(error, baseURL: baseURL)
        }
        return response
    }

    /// A connection failure, said with the URL tried and what to check; HTTP answers pass as
    /// they are.
    static func unreachable(_ error: OsmoError, baseURL: String) -> OsmoError {
        let text = error.message.lowercased()
        let authority = baseURL.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? baseURL
        let host = authority.hasPrefix("[") ? String(authority.prefix { $0 != "]" }.dropFirst()) : String(authority.split(separator: ":").first ?? "")
        let local = host == "127.0.0.1" || host == "localhost" || host == "::1"
        let whereFrom = "the URL comes from --service, else $OSMO_SERVICE_URL, else the login file's url, else http://127.0.0.1:8000"
        let hint: String
        if text.contains("resolve host") || text.contains("resolve proxy") {
            hint = "unknown host '\(host)': check the service URL (\(whereFrom))"
        } else if text.contains("timed out") || text.contains("timeout was reached") {
            hint = "no connection to \(authority) within the connect timeout (--connect-timeout): is the host reachable from here?"
        } else if text.contains("failed to connect") || text.contains("couldn't connect") || text.contains("connection refused") {
            hint = local
                ? "nothing is listening at \(authority). Is `osmo pod run` or `osmo service` running, and on this port? `osmo pod run` prints its address (osmo pod: service on http://127.0.0.1:PORT; is it using another `--service-port`?): pass that with --service"
                : "nothing accepted the connection at \(authority): is the service up, and is the URL right? (\(whereFrom))"
        } else {
            return error
        }
        return OsmoError(.io, "cannot reach the OSMO service at \(baseURL): \(hint)", cause: error)
    }

    func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8], what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw OsmoError(.protocolViolation, "unexpected \(what) answer from the service: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
    }
}
