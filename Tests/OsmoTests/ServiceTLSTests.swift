import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// ctrl's connections to a service behind TLS at an IP address (`wss://127.0.0.1`, issue 10 §9
/// and 16 §9): `Tests/Servers/tls_proxy.py` terminates TLS with a certificate from its own CA in
/// front of `osmo service`. Verification is on: refused without the CA, accepted with it in
/// `SSL_CERT_FILE`, accepted with the documented opt-out `OSMO_SERVICE_TLS_INSECURE=1`. An IP host
/// sends no SNI, and the certificate's IP SAN is what is checked (a certificate naming only
/// `localhost` is refused at 127.0.0.1).
@Suite struct ServiceTLSTests {
    final class TLSProxy {
        let scratch = Scratch("osmo-tls")
        let child: ChildProcess
        let port: Int
        var caFile: String { scratch.at("certs/ca.pem") }

        init(backendPort: Int, san: String? = nil) throws {
            let fd = open(scratch.at("out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            defer { close(fd) }
            child = try ChildProcess.spawn(
                executable: Python.path,
                arguments: ["python3", ServerScripts.path("tls_proxy.py"), "--dir", scratch.at("certs"), "--backend-port", "\(backendPort)"] + (san.map { ["--san", $0] } ?? []),
                environment: ChildProcess.currentEnvironment, stdout: fd, stderr: fd)
            let deadline = Clock.now + patience(30)
            var found = 0
            while found == 0 {
                if let line = text(of: scratch.at("out")).split(separator: "\n").first(where: { $0.hasPrefix("ready ") }) {
                    found = Int(line.dropFirst(6)) ?? 0
                } else if Clock.now > deadline {
                    throw OsmoError(.io, "tls_proxy.py did not start: \(text(of: scratch.at("out")))")
                } else {
                    usleep(20_000)
                }
            }
            port = found
        }

        deinit {
            child.signal(SIGKILL)
            _ = try? child.wait()
        }

        var url: String { "https://127.0.0.1:\(port)" }
    }

    /// The environment without any CA bundle override, plus `extra`.
    static func environment(_ extra: [String]) -> [String] {
        ChildProcess.currentEnvironment.filter { !$0.hasPrefix("SSL_CERT_FILE=") && !$0.hasPrefix("CURL_CA_BUNDLE=") && !$0.hasPrefix("OSMO_SERVICE_TLS_INSECURE=") } + extra
    }

    /// Runs a task against the proxy; returns the pod once it ended, or once `until` appeared in
    /// its output (then it is stopped).
    static func task(_ service: ServiceProcess, _ proxy: TLSProxy, _ workflow: String, environment: [String], ctrlArguments: [String] = [], until: String? = nil) throws -> (status: Int32, output: String) {
        let options = ctrlArguments.flatMap { ["--ctrl-arg", $0] }
        let pod = try PodProcess(url: proxy.url, tokenFile: service.tokenFile, workflow: workflow, task: "t", options: options,
                                 command: ["echo", "over tls"], environment: Self.environment(environment))
        guard let until else { return (pod.wait(timeout: patience(90)), pod.output) }
        let deadline = Clock.now + patience(60)
        while !pod.output.contains(until) && Clock.now < deadline { usleep(50_000) }
        let output = pod.output
        pod.child.signal(SIGTERM)
        _ = pod.wait(timeout: patience(30))
        return (-1, output)
    }

    @Test func logsReachAServiceBehindTLSAtAnIPAddress() throws {
        let service = try ServiceProcess()
        let proxy = try TLSProxy(backendPort: service.port)
        let run = try Self.task(service, proxy, "wf-tls", environment: ["SSL_CERT_FILE=\(proxy.caFile)"])
        #expect(run.status == 0, "\(run.output)")
        #expect(service.records("wf-tls", "t").contains { $0.Text == "over tls" }, "\(run.output)")
    }

    /// The token refresh in clear (`-refreshScheme http`, the proxy passes non-TLS connections
    /// through) so that only the websocket client (NIOSSL) meets the certificate.
    @Test func websocketRefusesAnUntrustedCertificate() throws {
        let service = try ServiceProcess()
        let proxy = try TLSProxy(backendPort: service.port)
        let run = try Self.task(service, proxy, "wf-untrusted", environment: [], ctrlArguments: ["-refreshScheme", "http"], until: "SSL_CERT_FILE")
        #expect(run.output.contains("CERTIFICATE_VERIFY_FAILED"), "\(run.output)")
        #expect(!service.records("wf-untrusted", "t").contains { $0.Text == "over tls" })
    }

    @Test func websocketChecksTheIPAddressInTheCertificate() throws {
        let service = try ServiceProcess()
        let proxy = try TLSProxy(backendPort: service.port, san: "DNS:localhost")
        let run = try Self.task(service, proxy, "wf-nosan", environment: ["SSL_CERT_FILE=\(proxy.caFile)"], ctrlArguments: ["-refreshScheme", "http"], until: "SSL_CERT_FILE")
        #expect(run.output.contains("127.0.0.1"), "\(run.output)")
        #expect(!service.records("wf-nosan", "t").contains { $0.Text == "over tls" })
    }

    @Test func tokenRefreshRefusesAnUntrustedCertificate() throws {
        let service = try ServiceProcess()
        let proxy = try TLSProxy(backendPort: service.port)
        let run = try Self.task(service, proxy, "wf-curl", environment: [], until: "SSL_CERT_FILE")
        #expect(run.output.contains("SSL certificate problem"), "\(run.output)")
    }

    @Test func optOutAcceptsASelfSignedService() throws {
        let service = try ServiceProcess()
        let proxy = try TLSProxy(backendPort: service.port)
        let run = try Self.task(service, proxy, "wf-insecure", environment: ["OSMO_SERVICE_TLS_INSECURE=1"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("OSMO_SERVICE_TLS_INSECURE is set"))
        #expect(service.records("wf-insecure", "t").contains { $0.Text == "over tls" })
    }
}
