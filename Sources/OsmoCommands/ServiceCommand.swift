import ArgumentParser
import Glibc
import OsmoCore
import OsmoService
import OsmoSystem

/// `osmo service`: a local stand-in for the OSMO service's endpoints (token, logger websocket,
/// barriers, actions, router), for development, tests and `osmo pod run`.
struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Serve the OSMO service endpoints ctrl and the workstation CLI use, on one local port.",
        discussion: """
        Prints `listening HOST:PORT` first. Logs land in <log-dir>/<workflow>/<task>.jsonl, metrics in \
        <log-dir>/<workflow>/.metrics.jsonl. Without --refresh-token-file a token is generated and written \
        to <log-dir>/refresh_token.
        """)

    @Option(help: "Address to serve on (port 0 picks a free one). Loopback by default.")
    var listen = "127.0.0.1:8000"
    @Option(name: .customLong("log-dir"), help: "Where task logs and metrics are stored.")
    var logDirectory = "osmo-service-logs"
    @Option(name: .customLong("refresh-token-file"), help: "File holding the refresh token tasks present.")
    var refreshTokenFile: String?
    @Option(name: .customLong("token-seconds"), help: "Lifetime of issued tokens.")
    var tokenSeconds = 300.0
    @Option(name: .customLong("group"), help: "NAME=SIZE: the number of tasks a group's barriers wait for.")
    var groups: [String] = []
    @Option(name: .customLong("router-timeout"), help: "Seconds one end of a router session waits for the other.")
    var routerTimeout = 60.0
    @Option(name: .customLong("router-address"), help: "router_address given to clients (default: this service).")
    var routerAddress: String?
    @Option(name: .customLong("rsync-workflow"), help: "A workflow whose tasks run the rsync plugin (the rsync action is refused, 403, for the others; repeatable).")
    var rsyncWorkflows: [String] = []
    @Option(name: .customLong("rsync-path"), help: ArgumentHelp("An rsync allowed path NAME:PATH:WRITABLE, as plugins_config.rsync.allowed_paths (repeatable).", valueName: "name:path:writable"))
    var rsyncPaths: [String] = []
    @Flag(help: "Do not print log lines as they arrive.")
    var quiet = false
    @Option(name: .customLong("pending-refreshes"), help: ArgumentHelp("Answer the first N token refreshes with PENDING.", visibility: .hidden))
    var pendingRefreshes = 0
    @Flag(name: .customLong("require-auth"), help: ArgumentHelp("Require a token on every route even on loopback (as beyond it).", visibility: .hidden))
    var requireAuthentication = false

    static func execute(_ arguments: [String]) -> Int32 {
        do {
            let command = try OsmoCommand.parse(ServiceCommand.self, arguments)
            guard let service = command as? ServiceCommand else {
                var other = command
                try other.run()
                return 0
            }
            return try service.serve()
        } catch {
            let code = exitCode(for: error).rawValue
            if code == 0 {
                print(OsmoCommand.explain(error))
                return 0
            }
            OsmoMain.writeError("osmo service: \(error is OsmoError ? "\(error)" : OsmoCommand.explain(error))\n")
            return OsmoCore.ExitCode.usage.rawValue
        }
    }

    func settings() throws -> LocalService.Settings {
        var settings = LocalService.Settings()
        settings.alwaysAuthenticate = requireAuthentication
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen takes HOST:PORT, got '\(listen)'")
        }
        settings.host = String(listen[..<colon])
        settings.port = port
        if settings.requiresAuthentication {
            let everywhere = settings.host == "0.0.0.0" || settings.host == "::" || settings.host == "[::]"
            OsmoMain.writeError("""
                osmo service: WARNING: listening on \(settings.host)\(everywhere ? " (every interface)" : ""), beyond loopback: \
                anyone who can reach its port can try it. Every route but the token trade and /health now needs a token \
                (Authorization: Bearer …, from POST /api/auth/jwt/refresh_token with the refresh token). Use 127.0.0.1 unless \
                another machine must connect.

                """)
        }
        settings.logDirectory = logDirectory
        settings.tokenSeconds = tokenSeconds
        settings.routerTimeoutSeconds = routerTimeout
        settings.rsyncWorkflows = Set(rsyncWorkflows)
        settings.rsyncAllowedPaths = try rsyncPaths.map { entry in
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, !parts[0].isEmpty, parts[1].hasPrefix("/"), ["true", "false"].contains(parts[2]) else {
                throw ValidationError("--rsync-path takes NAME:/ABSOLUTE/PATH:true|false, got '\(entry)'")
            }
            return RsyncModule(name: parts[0], path: parts[1], writable: parts[2] == "true")
        }
        settings.routerAddress = routerAddress
        settings.echo = !quiet
        settings.pendingRefreshes = pendingRefreshes
        for group in groups {
            guard let equals = group.firstIndex(of: "="), let size = Int(group[group.index(after: equals)...]), size > 0 else {
                throw ValidationError("--group takes NAME=SIZE, got '\(group)'")
            }
            settings.groupSizes[String(group[..<equals])] = size
        }
        try FileSystem.makeDirectory(logDirectory, mode: 0o755)
        if let refreshTokenFile {
            settings.refreshToken = try FileSystem.readText(refreshTokenFile).trimmingSpaces()
        } else {
            settings.refreshToken = LocalService.newRefreshToken()
            try FileSystem.replaceContents(Path.join(logDirectory, "refresh_token"), with: Array(settings.refreshToken.utf8), mode: 0o600)
        }
        return settings
    }

    func serve() throws -> Int32 {
        let service = LocalService(try settings())
        let signals = try SignalChannel([SIGTERM, SIGINT])
        ThreadStarter.detach {
            while true {
                _ = try? Poll.wait(signals.fd, events: Int16(POLLIN), timeoutMilliseconds: -1)
                if !signals.drain().isEmpty {
                    service.flushAll()
                    Glibc.exit(0)
                }
            }
        }
        try AsyncMain.block {
            try await service.run { port in
                try? FileSystem.writeAll(1, "listening \(service.settings.host):\(port)\n", what: "stdout")
            }
        }
        return 0
    }
}
