import FoundationEssentials
import Glibc
import OsmoCore
import OsmoData
import OsmoNet
import OsmoSystem
import OsmoTransfer
import Synchronization

/// The reference CLI's `login.yaml`: what `osmo login` writes on a workstation, and what the
/// platform mounts into every task (`/osmo/login/config/login.yaml`, `$OSMO_CONFIG_FILE_DIR`), so
/// the in-task CLI reaches the service with no flags. Shapes (`src/lib/utils/login.py`):
///
///     url: https://osmo.example.com
///     osmo_token: true
///     token_login: {id_token: <JWT>, refresh_token: <token>, refresh_url: <url>}
///     # or, for a development service:
///     dev_login: {username: <name>}
///
/// A `token_login` sends `Authorization: Bearer <id_token>`, traded again at `refresh_url`
/// (POST `{"token": refresh_token}` → `{"token": …}`) when it is within 3 s of its `exp`, as the
/// reference does; `dev_login` sends `x-osmo-user`. The new token is kept in memory for the
/// process (the reference also rewrites the file; the next invocation refreshes again).
///
/// Concurrency model: immutable after loading except the current id_token, under a Mutex; a
/// refresh may run twice at once (both results are valid tokens).
public final class LoginFile: Sendable {
    public enum Identity: Sendable, Equatable {
        case token(idToken: String, refreshToken: String?, refreshURL: String?, osmoToken: Bool)
        case developer(username: String)
    }

    public let path: String
    /// The service, without a trailing `/`.
    public let url: String
    public let identity: Identity
    private let idToken: Mutex<String>

    /// `$OSMO_CONFIG_FILE_DIR`, else `$XDG_CONFIG_HOME/osmo`, else `~/.config/osmo` (the
    /// reference's `client_configs.py`), then `login.yaml`.
    public static var defaultPath: String? {
        let environment = { (name: String) in getenv(name).map { String(cString: $0) } }
        if let directory = environment("OSMO_CONFIG_FILE_DIR") { return Path.join(directory, "login.yaml") }
        if let xdg = environment("XDG_CONFIG_HOME"), !xdg.isEmpty { return Path.join(xdg, "osmo/login.yaml") }
        return environment("HOME").map { Path.join($0, ".config/osmo/login.yaml") }
    }

    /// The default file, or nil when there is none.
    public static func find() throws -> LoginFile? {
        guard let path = defaultPath, FileSystem.exists(path) else { return nil }
        return try LoginFile(path: path)
    }

    public init(path: String) throws {
        self.path = path
        let root: MiniYAML.Node
        do {
            root = try MiniYAML.parse(try FileSystem.readText(path))
        } catch {
            throw OsmoError(.invalidInput, "cannot read the login file \(path): \(error)")
        }
        guard let url = root["url"]?.string, !url.isEmpty else {
            throw OsmoError(.invalidInput, "the login file \(path) has no `url` (the service's address): log in again with `osmo login`")
        }
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        switch (root["token_login"], root["dev_login"]) {
        case (let token?, nil):
            guard let id = token["id_token"]?.string, !id.isEmpty else {
                throw OsmoError(.invalidInput, "the login file \(path) has a token_login without an id_token")
            }
            let osmoToken = ["true", "True", "yes"].contains(root["osmo_token"]?.string ?? "")
            identity = .token(idToken: id, refreshToken: token["refresh_token"]?.string, refreshURL: token["refresh_url"]?.string, osmoToken: osmoToken)
            idToken = Mutex(id)
        case (nil, let developer?):
            guard let name = developer["username"]?.string, !name.isEmpty else {
                throw OsmoError(.invalidInput, "the login file \(path) has a dev_login without a username")
            }
            identity = .developer(username: name)
            idToken = Mutex("")
        default:
            throw OsmoError(.invalidInput, "invalid login file \(path): it must contain exactly one of token_login and dev_login")
        }
    }

    /// The headers every request and websocket to the service carries.
    public func headers() async throws -> [(name: String, value: String)] {
        switch identity {
        case .developer(let name):
            return [(name: "x-osmo-user", value: name)]
        case .token:
            return [(name: "Authorization", value: "Bearer \(try await currentToken())")]
        }
    }

    func currentToken() async throws -> String {
        let token = idToken.withLock { $0 }
        guard let expiry = LoginFile.expiry(ofJWT: token), expiry - 3 < Double(Clock.wall.seconds) else { return token }
        guard case .token(_, let refreshToken, let refreshURL, let osmoToken) = identity else { return token }
        guard let refreshURL, !refreshURL.isEmpty else {
            throw OsmoError(.unauthorized, "the token in \(path) has expired and the file has no refresh_url: log in again with `osmo login`")
        }
        guard osmoToken, let refreshToken, !refreshToken.isEmpty else {
            throw OsmoError(.unauthorized, "the token in \(path) has expired and this CLI renews only OSMO tokens (osmo_token: true with a refresh_token): log in again with `osmo login`")
        }
        var request = HTTPRequest(
            url: refreshURL, method: "POST", headers: ["Content-Type: application/json"],
            body: Array("{\"token\":\(ServiceAction.quote(refreshToken))}".utf8), label: "login token refresh"
        )
        request.acceptAnyStatus = true
        request.verifyPeer = ServiceTLS.verify
        let response = try await TransferEngine.shared().response(to: request)
        struct Answer: Decodable { var token: String? }
        guard response.status == 200, let fresh = (try? JSONDecoder().decode(Answer.self, from: Data(response.body)))?.token, !fresh.isEmpty else {
            throw OsmoError(.unauthorized, "unable to refresh the login token at \(refreshURL) (HTTP \(response.status)): \(String(decoding: response.body.prefix(200), as: UTF8.self)); log in again with `osmo login`")
        }
        idToken.withLock { $0 = fresh }
        return fresh
    }

    /// A JWT's `exp` claim (seconds since the epoch), or nil when the token is not a JWT or has
    /// none (then it is used as it is).
    static func expiry(ofJWT token: String) -> Double? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var payload = parts[1].map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 }.reduce(into: "") { $0.append($1) }
        while payload.count % 4 != 0 { payload.append("=") }
        guard let data = Data(base64Encoded: payload) else { return nil }
        struct Claims: Decodable { var exp: Double? }
        return (try? JSONDecoder().decode(Claims.self, from: data))?.exp
    }
}
