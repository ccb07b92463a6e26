import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import OsmoTransfer
import Synchronization

/// The task's short-lived service token (PROTOCOL.md §6): read the refresh token file, trade it at
/// `…/api/auth/jwt/refresh_token`, keep the answer until shortly before it expires. Every shape
/// the service answers in is understood: the token, FastAPI's `{"detail": {"error": "PENDING"}}`,
/// a flat `{"error": …}`, and `{"message": …, "error_code": …}`.
///
/// Both service generations: 6.2 and later take a POST with `{"token": …}`; 6.1 only a GET with
/// `?refresh_token=…` and answers the POST with 405, after which every refresh is a GET. The
/// header the token travels in follows the generation unless `-tokenHeader` names one: 6.2+
/// `Authorization: Bearer <jwt>`, 6.1 `x-osmo-auth: <jwt>` (its ctrl's default; no service
/// passes the flag).
public final class TokenSource: Sendable {
    public struct Settings: Sendable {
        /// `{refreshScheme}://host:port`
        public var serviceURL: String
        public var refreshTokenFile: String
        public var workflow = ""
        public var group = ""
        public var task = ""
        public var retry = "0"
        /// `Authorization` gets `Bearer <jwt>`, any other header the bare token; nil: by the
        /// service's generation.
        public var header: String?

        public init(serviceURL: String, refreshTokenFile: String) {
            self.serviceURL = serviceURL
            self.refreshTokenFile = refreshTokenFile
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The task is not RUNNING yet: wait.
        case pending
        /// The task is over: nothing to send any more.
        case finished
        /// The service refused the refresh token (or the request).
        case refused(String)
        /// The refresh token file cannot be read (ctrl code 20).
        case unreadable(String)
        /// No answer (connection refused, 5xx after retries).
        case unreachable(String)

        public var description: String {
            switch self {
            case .pending: "waiting for the task to enter RUNNING status"
            case .finished: "the service reports the task has finished"
            case .refused(let reason): "the service refused the refresh token: \(reason)"
            case .unreadable(let reason): reason
            case .unreachable(let reason): "cannot reach the token endpoint: \(reason)"
            }
        }
    }

    /// Which token endpoint the service has.
    public enum Generation: Sendable, Equatable {
        /// POST with a JSON body (services 6.2 and later; what is tried first).
        case post
        /// GET with `?refresh_token=` (6.1: its POST answers 405).
        case get
    }

    public let settings: Settings
    private let state = Mutex((token: "", expiresAt: 0.0, margin: 0.0, generation: Generation.post))

    public var generation: Generation { state.withLock { $0.generation } }

    /// The header's name: the flag's, else the generation's.
    public var headerName: String {
        settings.header ?? (generation == .get ? "x-osmo-auth" : "Authorization")
    }

    public init(_ settings: Settings) {
        self.settings = settings
    }

    /// The header that carries the token, refreshed first when it is close to expiry.
    public func header() async throws -> (name: String, value: String) {
        let token = try await current()
        let name = headerName
        return (name, name.lowercased() == "authorization" ? "Bearer \(token)" : token)
    }

    public func current() async throws -> String {
        let cached = state.withLock { s in Clock.wall.seconds < Int(s.expiresAt - s.margin) ? s.token : nil }
        if let cached { return cached }
        return try await refresh()
    }

    /// Drops the cached token (after the service rejected it).
    public func invalidate() {
        state.withLock { $0.expiresAt = 0 }
    }

    func refresh() async throws -> String {
        let refreshToken: String
        do {
            refreshToken = try FileSystem.readText(settings.refreshTokenFile).trimmingSpaces()
        } catch {
            throw Failure.unreadable("cannot read the refresh token from \(settings.refreshTokenFile): \(error)")
        }
        var response = try await exchange(refreshToken, generation)
        if response.status == 405, generation == .post {
            // A 6.1 service: its endpoint is a GET.
            state.withLock { $0.generation = .get }
            response = try await exchange(refreshToken, .get)
        }
        let answer = TokenAnswer.parse(response.body)
        if response.status == 200, let token = answer.token, !token.isEmpty, answer.error == nil {
            let now = Double(Clock.wall.seconds)
            let expiresAt = answer.expiresAt ?? now + 300
            let margin = min(30, max(1, (expiresAt - now) / 4))
            state.withLock { $0.token = token; $0.expiresAt = expiresAt; $0.margin = margin }
            return token
        }
        switch answer.error {
        case "PENDING": throw Failure.pending
        case "FINISHED": throw Failure.finished
        default:
            let reason = answer.message ?? answer.error ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            throw Failure.refused("HTTP \(response.status): \(reason)")
        }
    }
}

extension TokenSource {
    /// One request to the token endpoint in `generation`'s form.
    func exchange(_ refreshToken: String, _ generation: Generation) async throws -> HTTPResponse {
        var query = [("workflow_id", settings.workflow), ("group_name", settings.group), ("task_name", settings.task), ("retry_id", settings.retry)]
        if generation == .get { query.insert(("refresh_token", refreshToken), at: 0) }
        let queryText = query.map { "\($0.0)=\(URLQuery.escape($0.1))" }.joined(separator: "&")
        let url = "\(settings.serviceURL)/api/auth/jwt/refresh_token?\(queryText)"
        var request = switch generation {
        case .post:
            HTTPRequest(
                url: url, method: "POST", headers: ["Content-Type: application/json"],
                body: Array("{\"token\":\(ServiceAction.quote(refreshToken))}".utf8), label: "token refresh"
            )
        case .get:
            HTTPRequest(url: url, method: "GET", label: "token refresh")
        }
        request.acceptAnyStatus = true
        request.verifyPeer = ServiceTLS.verify
        request.maxAttempts = 2
        do {
            return try await TransferEngine.shared().response(to: request)
        } catch {
            throw Failure.unreachable("\(error)")
        }
    }
}

/// The token endpoint's answer in any of its shapes.
struct TokenAnswer: Decodable {
    var token: String?
    var expiresAt: Double?
    var error: String?
    var message: String?

    enum CodingKeys: String, CodingKey { case token, error, message, detail, expiresAt = "expires_at" }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        token = try? c.decodeIfPresent(String.self, forKey: .token)
        expiresAt = try? c.decodeIfPresent(Double.self, forKey: .expiresAt)
        error = try? c.decodeIfPresent(String.self, forKey: .error)
        message = try? c.decodeIfPresent(String.self, forKey: .message)
        if let detail = try? c.decodeIfPresent(TokenAnswer.self, forKey: .detail) {
            token = token ?? detail.token
            expiresAt = expiresAt ?? detail.expiresAt
            error = error ?? detail.error
            message = message ?? detail.message
        } else if let detail = try? c.decodeIfPresent(String.self, forKey: .detail) {
            message = message ?? detail
        }
    }

    init() {}

    static func parse(_ body: [UInt8]) -> TokenAnswer {
        (try? JSONDecoder().decode(TokenAnswer.self, from: Data(body))) ?? TokenAnswer()
    }
}

/// Percent-encoding for query values (RFC 3986 unreserved characters pass).
public enum URLQuery {
    public static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    public static func unescape(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
