import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// `osmo service` against a careless or hostile client (`Tests/Servers/service_abuse.py`):
/// forbidden frames end router sessions, task names cannot take the service's own files, log
/// files hold no descriptors between writes, `log_done` is never sent for lines that were not
/// stored, and beyond loopback every route wants a token, with a loud warning at start.
@Suite(.serialized)
struct ServiceHardeningTests {
    struct Check: Decodable {
        var ok: Bool
        var detail: String
    }

    func abuse(_ service: ServiceProcess, beyondLoopback: Bool) throws -> [String: Check] {
        let python = ExecutableLocation.search("python3", path: String(cString: getenv("PATH") ?? strdup("/usr/bin"))) ?? "/usr/bin/python3"
        let result = try Shell.run(python, [ServerScripts.path("service_abuse.py"), "--url", service.url,
                                            "--refresh-token-file", service.tokenFile, "--log-dir", service.logs,
                                            "--pid", "\(service.child?.pid ?? 0)"] + (beyondLoopback ? ["--beyond-loopback"] : []))
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode([String: Check].self, from: Data(result.stdout.utf8))
    }

    @Test func onLoopback() throws {
        let service = try ServiceProcess()
        let checks = try abuse(service, beyondLoopback: false)
        for name in ["text_on_byte_session", "text_on_webserver", "reserved_task_names", "descriptors", "log_done_unstored", "reconnect_takes_actions"] {
            #expect(checks[name]?.ok == true, "\(name): \(checks[name]?.detail ?? "not run")")
        }
    }

    @Test func beyondLoopbackEveryRouteNeedsATokenAndStartWarns() throws {
        let service = try ServiceProcess(["--listen", "0.0.0.0:0"])
        #expect(text(of: service.scratch.at("service-1.out")).contains("WARNING: listening on 0.0.0.0 (every interface)"))
        let checks = try abuse(service, beyondLoopback: true)
        for (name, check) in checks { #expect(check.ok, "\(name): \(check.detail)") }
        #expect(checks["unauthenticated_action"] != nil)
    }
}
