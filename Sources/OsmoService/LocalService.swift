import FoundationEssentials
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import OsmoCore
import OsmoNet
import OsmoSystem

/// `osmo service`: the OSMO service's endpoints that ctrl and the workstation CLI use, on one
/// port, for development, tests and `osmo pod run` (PROTOCOL.md §6–7):
/// - `POST /api/auth/jwt/refresh_token` trades the refresh token for a short-lived token;
/// - the logger websocket stores logs and metrics, answers `LOG_DONE`, releases barriers and
///   delivers queued actions;
/// - `POST /api/workflow/{wf}/exec/task/{task}`, `…/portforward/{task}`, `…/webserver/{task}`
///   queue an action and answer `{router_address, key, cookie}`;
/// - `/api/router/{kind}/{wf}/backend|client/{key}` pairs the two ends of a session.
public final class LocalService: Sendable {
    public struct Settings: Sendable {
        public var host = "127.0.0.1"
        public var port = 8000
        public var logDirectory = "osmo-service-logs"
        /// The refresh token tasks present.
        public var refreshToken = ""
        /// Lifetime of issued tokens (the real service: 300 s).
        public var tokenSeconds = 300.0
        /// `--group NAME=SIZE`: how many tasks a group's barriers wait for.
        public var groupSizes: [String: Int] = [:]
        public var routerTimeoutSeconds = 60.0
        /// Answer this many refresh requests with PENDING first (as for a task not RUNNING yet).
        public var pendingRefreshes = 0
        /// Print log lines as they arrive.
        public var echo = true
        /// Address put in `router_address` (default: this service).
        public var routerAddress: String?
        /// Workflows whose tasks run the rsync daemon (the real service: `plugins_config.rsync`
        /// with the workflow's plugin on); the rsync action is refused for the others.
        public var rsyncWorkflows: Set<String> = []
        /// `plugins_config.rsync.allowed_paths` as `GET /api/plugins/configs` shows it.
        public var rsyncAllowedPaths: [RsyncModule] = []

        public init() {}

        /// Tokens required even on loopback (tests of the CLI's credentials).
        public var alwaysAuthenticate = false

        /// Bound beyond loopback: every route but the token trade and `/health` needs a token.
        public var requiresAuthentication: Bool {
            alwaysAuthenticate || !(host == "localhost" || host == "::1" || host.hasPrefix("127."))
        }
    }

    public let settings: Settings
    let state: ServiceState
    let store: TaskLogStore
    let router: RouterHub
    let pendingLeft: Counter

    public init(_ settings: Settings) {
        self.settings = settings
        state = ServiceState(groupSizes: settings.groupSizes)
        store = TaskLogStore(directory: settings.logDirectory, echo: settings.echo)
        router = RouterHub(timeoutSeconds: settings.routerTimeoutSeconds)
        pendingLeft = Counter()
        pendingLeft.add(settings.pendingRefreshes)
    }

    /// Serves until the task is cancelled; `ready` gets the bound port (useful with port 0).
    public func run(ready: @escaping @Sendable (Int) -> Void) async throws {
        let http = Router(context: ServiceRequestContext.self)
        let sockets = Router(context: ServiceRequestContext.self)
        addTokenRoutes(http)
        addActionRoutes(http)
        addLoggerRoute(sockets)
        addRouterRoutes(sockets)
        http.get("/health") { _, _ in "{\"status\":\"OK\"}" }
        http.get("/api/router/version") { _, _ in "\"osmo-local\"" }
        http.get("/api/local/stats") { request, _ in self.refuseUnauthenticated(request) ?? Self.json(.ok, self.statistics) }
        var logger = Logger(label: "osmo.service")
        logger.logLevel = .critical
        let app = Application(
            router: http,
            server: .http1WebSocketUpgrade(webSocketRouter: sockets, configuration: .init(ws: .init(maxFrameSize: RouterHub.maxFrameBytes, autoPing: .disabled, closeTimeout: .seconds(30)))),
            configuration: .init(address: .hostname(settings.host, port: settings.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                self.boundPort.add(port)
                ready(port)
            },
            logger: logger
        )
        try await app.run()
    }

    /// A fresh random refresh token.
    public static func newRefreshToken() -> String {
        (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined()
    }

    /// Writes out every buffered log line (before exiting).
    public func flushAll() { store.flushAll() }

    /// What the service counted (tokens issued, lines stored, copies dropped, connections).
    public var statistics: String {
        let s = state.stats.withLock { $0 }
        return "{\"tokens_issued\":\(s.tokensIssued),\"lines_stored\":\(s.linesStored),\"duplicates_dropped\":\(s.duplicatesDropped),\"connections\":\(s.connections),\"router_sessions\":\(router.sessions.value)}"
    }

    var routerAddress: String { settings.routerAddress ?? "ws://\(settings.host):\(boundPort.value)" }
    let boundPort = Counter()

    // MARK: token

    func addTokenRoutes(_ http: Router<ServiceRequestContext>) {
        http.post("/api/auth/jwt/refresh_token") { request, context -> Response in
            let query = request.uri.queryParameters
            let names = ["workflow_id", "group_name", "task_name", "retry_id"]
            let missing = names.filter { query[Substring($0)] == nil }
            if !missing.isEmpty {
                let detail = missing.map { "{\"type\":\"missing\",\"loc\":[\"query\",\"\($0)\"],\"msg\":\"Field required\"}" }.joined(separator: ",")
                return Self.json(.unprocessableContent, "{\"detail\":[\(detail)]}")
            }
            var request = request
            let body = try await request.collectBody(upTo: 1 << 16)
            struct Body: Decodable { var token: String }
            guard let presented = try? JSONDecoder().decode(Body.self, from: Data(body.readableBytesView)) else {
                return Self.json(.unprocessableContent, "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"token\"],\"msg\":\"Field required\"}]}")
            }
            guard presented.token == self.settings.refreshToken else {
                return Self.json(.badRequest, "{\"message\":\"Refresh token is invalid\",\"error_code\":\"USER\",\"workflow_id\":null}")
            }
            if self.pendingLeft.value > 0 {
                self.pendingLeft.add(-1)
                return Self.json(.badRequest, "{\"detail\":{\"token\":null,\"expires_at\":null,\"error\":\"PENDING\"}}")
            }
            let workflow = String(query["workflow_id"]!), task = String(query["task_name"]!)
            self.state.groups.withLock { $0["\(workflow)/\(task)"] = String(query["group_name"]!) }
            let issued = self.state.issueToken(ttl: self.settings.tokenSeconds)
            return Self.json(.ok, "{\"token\":\"\(issued.token)\",\"expires_at\":\(issued.expiresAt),\"error\":null}")
        }
    }

    /// Whether a request carries a live token (`Authorization: Bearer …`, or the bare token).
    func authorized(_ headers: HTTPFields) -> Bool {
        guard let value = headers[.authorization] else { return false }
        let token = value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : value
        return state.isValid(token: token)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
