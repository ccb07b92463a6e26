import Glibc
import OsmoCore
import OsmoNet
import OsmoSystem

/// `osmo workflow rsync upload|download`: a real rsync client against the task's daemon,
/// through a local listener that forwards to the router's rsync path (`PortForwardClient` in
/// rsync mode), as the reference CLI (`src/lib/rsync/rsync.py`) does.
///
/// Paths are rsync's own: a local source with a trailing slash sends its contents, without it
/// the directory itself; the remote side is an absolute path in the task, mapped to the module
/// whose path is its longest prefix (`osmo` = `/osmo/run/workspace`, plus the service's allowed
/// paths; an upload needs a writable one). Success is rsync's exit status 0 and, for a download
/// of a named path, that path having arrived; anything else exits non-zero with rsync's reason.
///
/// ## Concurrency model
/// The forward runs as a detached task on Swift's executors and NIO's threads; the calling
/// thread waits for its local port (a `ConditionLock`), then runs rsync as a child process and
/// waits for it, then cancels the forward.
public struct RsyncClient: Sendable {
    public enum Direction: Sendable { case upload, download }

    public typealias Module = RsyncModule

    /// One transfer: the local path as given, the module and the path inside it.
    public struct Request: Sendable, Equatable {
        public var direction: Direction
        public var local: String
        public var module: String
        /// Relative to the module, `/`-separated, a trailing `/` kept as given.
        public var remotePath: String
        public var originalRemote: String
    }

    public var service: ServiceClient
    public var workflow: String
    public var task: String
    public var connectTimeoutSeconds = 60.0
    /// Extra rsync options (filters, --progress, --bwlimit, --stats, --delete), in order.
    public var rsyncOptions: [String] = []
    public var rsyncExecutable: String?

    public init(service: ServiceClient, workflow: String, task: String) {
        self.service = service
        self.workflow = workflow
        self.task = task
    }

    /// `LOCAL:REMOTE` (upload) or `REMOTE:LOCAL` (download), split at the first colon not
    /// escaped with a backslash (the reference's rule), checked against `modules`.
    public static func parse(_ text: String, direction: Direction, modules: [Module]) throws -> Request {
        var colon: String.Index?
        var previous: Character?
        for index in text.indices {
            if text[index] == ":" && previous != "\\" { colon = index; break }
            previous = text[index]
        }
        guard let colon else {
            throw OsmoError(.usage, "Invalid rsync path format: missing colon, path should be in the format of <local_path>:<remote_path> for upload or <remote_path>:<local_path> for download")
        }
        let unescape = { (s: Substring) in String(s).replacing("\\:", with: ":") }
        let left = unescape(text[..<colon]), right = unescape(text[text.index(after: colon)...])
        let (local, remote) = direction == .upload ? (left, right) : (right, left)
        guard !local.isEmpty else { throw OsmoError(.usage, "Invalid rsync path format: missing local path") }
        if direction == .upload && !FileSystem.exists(local) { throw OsmoError(.usage, "Local path does not exist: \(local)") }
        let (module, relative) = try map(remote: remote, modules: modules, writable: direction == .upload)
        return Request(direction: direction, local: local, module: module, remotePath: relative, originalRemote: remote)
    }

    /// The module whose path is the longest prefix of `remote`, and the rest of it.
    static func map(remote: String, modules: [Module], writable: Bool) throws -> (String, String) {
        guard remote.hasPrefix("/") else { throw OsmoError(.usage, "Remote path must be an absolute path on remote host: \(remote)") }
        let components = remote.split(separator: "/").filter { $0 != "." }
        guard !components.contains("..") else { throw OsmoError(.usage, "Invalid format for remote path: \(remote) ('..' is not allowed)") }
        let normalized = "/" + components.joined(separator: "/")
        let trailing = remote.hasSuffix("/") && !components.isEmpty
        var readOnlyMatch: Module?
        for module in modules.sorted(by: { $0.path.count > $1.path.count }) {
            let base = module.path.count > 1 && module.path.hasSuffix("/") ? String(module.path.dropLast()) : module.path
            guard normalized == base || normalized.hasPrefix(base == "/" ? "/" : base + "/") else { continue }
            if writable && !module.writable {
                readOnlyMatch = readOnlyMatch ?? module
                continue
            }
            var rest = String(normalized.dropFirst(base.count))
            while rest.hasPrefix("/") { rest.removeFirst() }
            if trailing && !rest.isEmpty { rest += "/" }
            return (module.name, rest)
        }
        if let readOnlyMatch {
            throw OsmoError(.usage, "Remote path \(remote) is in the read-only rsync module '\(readOnlyMatch.name)' (\(readOnlyMatch.path)): uploads need a writable one")
        }
        throw OsmoError(.usage, "Remote path is not allowed for rsync: \(remote). The allowed base paths are: \(modules.map(\.path).joined(separator: ", "))")
    }

    /// The modules: `osmo` plus the service's allowed paths.
    public func modules() async throws -> [Module] {
        [Module.workspace] + (try await service.rsyncAllowedPaths()).map {
            Module(name: $0.name, path: $0.path.count > 1 && $0.path.hasSuffix("/") ? String($0.path.dropLast()) : $0.path, writable: $0.writable)
        }
    }

    /// Runs the transfer; returns rsync's exit status (0 only when it worked).
    public func run(_ request: Request) throws -> Int32 {
        guard let rsync = rsyncExecutable ?? RsyncBinary.locate() else {
            throw OsmoError(.notFound, "no rsync program on this machine (install rsync)")
        }
        var forward = PortForwardClient(service: service, workflow: workflow, task: task)
        forward.rsync = true
        forward.connectTimeoutSeconds = connectTimeoutSeconds
        let state = ConditionLock<(port: Int?, failure: (any Error)?)>((nil, nil))
        forward.ready = { _, port in state.withLock { $0.port = port } }
        let session = forward
        let ended = ConditionLock(false)
        let forwarding = Task.detached {
            do { try await session.run([PortForwardClient.Mapping(local: 0, remote: 16000)]) } catch {
                state.withLock { $0.failure = error }
            }
            ended.withLock { $0 = true }
        }
        // The tunnel is taken down before the process exits (NIO complains about loops shut
        // down under it otherwise).
        defer {
            forwarding.cancel()
            _ = ended.wait(timeout: 2) { $0 ? true : nil }
        }
        let outcome = state.wait(timeout: connectTimeoutSeconds + 5) { s -> Result<Int, any Error>? in
            if let failure = s.failure { return .failure(failure) }
            return s.port.map { .success($0) }
        }
        guard let outcome else { throw OsmoError(.io, "no rsync connection to \(workflow)/\(task) within \(Int(connectTimeoutSeconds)) s") }
        let port = try outcome.get()
        let url = "rsync://127.0.0.1:\(port)/\(request.module)/\(request.remotePath)"
        var arguments = [rsync, "-av"] + rsyncOptions
        switch request.direction {
        case .upload:
            arguments += [request.local, url]
        case .download:
            // As the reference: the destination is a directory to copy into, created.
            if FileSystem.exists(request.local) && !FileSystem.isDirectory(request.local) {
                throw OsmoError(.usage, "Download destination must be a directory: \(request.local)")
            }
            try FileSystem.makeDirectory(request.local, mode: 0o755)
            arguments += [url, request.local.hasSuffix("/") ? request.local : request.local + "/"]
        }
        let child = try ChildProcess.spawn(executable: rsync, arguments: arguments, environment: ChildProcess.currentEnvironment, stdout: 1, stderr: 2)
        let status = try child.wait().exitStatus
        guard status == 0 else {
            OsmoClientLog.note("rsync \(request.direction == .upload ? "upload" : "download") failed (rsync exit \(status)\(Self.meaning(status)))")
            return status
        }
        // rsync reports a missing source itself (exit 23); a named one must also have arrived
        // (the reference's check against a server that says nothing).
        if request.direction == .download, !request.originalRemote.hasSuffix("/"),
           let name = request.originalRemote.split(separator: "/").last.map(String.init) {
            let target = Path.join(request.local, name)
            if !FileSystem.exists(target) {
                OsmoClientLog.note("Source path does not exist on remote task: \(request.originalRemote)")
                return 23
            }
        }
        return 0
    }

    /// rsync's exit codes in words (rsync(1) EXIT VALUES), for the ones users meet here.
    static func meaning(_ status: Int32) -> String {
        switch status {
        case 1: ": syntax or usage error, or a read-only module"
        case 3: ": errors selecting input/output files, dirs"
        case 5: ": error starting client-server protocol (unknown module?)"
        case 10, 12: ": the connection to the task broke"
        case 23: ": some files were not transferred (missing, or refused)"
        case 24: ": some source files vanished"
        case 30, 35: ": timeout"
        default: ""
        }
    }
}
