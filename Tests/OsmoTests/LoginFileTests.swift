import FoundationEssentials
import Glibc
@testable import OsmoClient
import OsmoCore
import OsmoSystem
import Testing

/// The in-task CLI authenticates like the reference's (issue 10 §7): it reads the login file the
/// platform mounts in every task (`$OSMO_CONFIG_FILE_DIR/login.yaml`, written by the service's
/// `task.py` as `osmo_token: true`, `token_login{id_token, refresh_token, refresh_url}`, `url`),
/// renews the expired id_token at `refresh_url`, and reaches the service with no flags.
@Suite struct LoginFileTests {
    /// An unsigned JWT with this `exp` (the CLI only reads the claim, as the reference does).
    static func jwt(exp: Int) -> String {
        func encode(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
        }
        return "\(encode("{\"alg\":\"none\"}")).\(encode("{\"exp\":\(exp),\"sub\":\"ctrl\"}")).sig"
    }

    /// The environment with no other way to find the service or a token.
    static func environment(_ extra: [String], home: String) -> [String] {
        ChildProcess.currentEnvironment.filter {
            !["OSMO_CONFIG_FILE_DIR=", "OSMO_SERVICE_URL=", "OSMO_TOKEN=", "HOME=", "XDG_CONFIG_HOME="].contains(where: $0.hasPrefix)
        } + ["HOME=\(home)"] + extra
    }

    @Test func execInsideATaskUsesTheMountedLoginFile() throws {
        let service = try ServiceProcess(["--require-auth"])
        let pod = try RouterTests.runningTask(service, "wf-login")
        defer { _ = pod.wait(timeout: 1) }
        let config = Scratch()
        let refreshToken = try FileSystem.readText(service.tokenFile).trimmingSpaces()
        // As `task.py` writes it (yaml.dump, keys sorted); the id_token long expired.
        try config.write("login.yaml", """
            osmo_token: true
            token_login:
              id_token: \(Self.jwt(exp: 1_000_000))
              refresh_token: \(refreshToken)
              refresh_url: \(service.url)/api/auth/jwt/refresh_token?workflow_id=wf-login&group_name=t-group&task_name=t&retry_id=0
            url: \(service.url)/
            username: someone@example.com

            """)
        let exec = try Shell.run(OsmoBinary.path, ["exec", "wf-login", "t", "--", "echo", "inside"],
                                 environment: Self.environment(["OSMO_CONFIG_FILE_DIR=\(config.path)"], home: config.path), stdin: "")
        #expect(exec.status == 0, "\(exec.stdout) \(exec.stderr)")
        #expect(exec.stdout.contains("inside"))

        // The same service without the file: refused, and the message says so.
        let bare = try Shell.run(OsmoBinary.path, ["exec", "wf-login", "t", "--service", service.url, "--", "echo", "inside"],
                                 environment: Self.environment([], home: Scratch().path), stdin: "")
        #expect(bare.status != 0 && bare.stderr.contains("401"), "\(bare.stdout) \(bare.stderr)")

        // A refresh token the service does not know: the reason, not a hang.
        try config.write("login.yaml", """
            osmo_token: true
            token_login:
              id_token: \(Self.jwt(exp: 1_000_000))
              refresh_token: not-the-task-token
              refresh_url: \(service.url)/api/auth/jwt/refresh_token?workflow_id=wf-login&group_name=t-group&task_name=t&retry_id=0
            url: \(service.url)

            """)
        let stale = try Shell.run(OsmoBinary.path, ["exec", "wf-login", "t", "--", "true"],
                                  environment: Self.environment(["OSMO_CONFIG_FILE_DIR=\(config.path)"], home: config.path), stdin: "")
        #expect(stale.status != 0 && stale.stderr.contains("unable to refresh the login token"), "\(stale.stderr)")
    }

    /// The shapes `login.py`'s `LoginStorage` accepts, and its refusals.
    @Test(arguments: [
        ("url: http://h:1\ndev_login:\n  username: dev\n", "x-osmo-user: dev", nil),
        ("url: http://h:1/\ntoken_login:\n  id_token: abc\n", "Authorization: Bearer abc", nil),
        ("token_login:\n  id_token: abc\n", nil, "has no `url`"),
        ("url: http://h:1\n", nil, "exactly one of token_login and dev_login"),
        ("url: http://h:1\ndev_login:\n  username: d\ntoken_login:\n  id_token: a\n", nil, "exactly one of token_login and dev_login"),
    ] as [(String, String?, String?)])
    func loginFileShapes(text: String, header: String?, failure: String?) async throws {
        let scratch = Scratch()
        try scratch.write("login.yaml", text)
        do {
            let file = try LoginFile(path: scratch.at("login.yaml"))
            #expect(failure == nil, "accepted: \(text)")
            #expect(file.url == "http://h:1")
            let headers = try await file.headers().map { "\($0.name): \($0.value)" }
            #expect(headers == [header!])
        } catch let error as OsmoError {
            #expect(failure.map { error.message.contains($0) } == true, "\(error)")
        }
    }

    @Test func expiryIsReadFromTheJWT() {
        #expect(LoginFile.expiry(ofJWT: Self.jwt(exp: 1234)) == 1234)
        #expect(LoginFile.expiry(ofJWT: "not-a-jwt") == nil)
    }
}
