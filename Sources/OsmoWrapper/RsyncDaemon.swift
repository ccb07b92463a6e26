import Glibc
import OsmoCore
import OsmoSystem

/// The task's rsync daemon (`osmo_exec -rsyncDaemon`, started by the wrapper in its own process
/// group, as the reference starts its `rsync` program): our listener on `127.0.0.1:PORT` hands
/// every accepted connection to a real `rsync --daemon` in inetd mode, with a generated config
/// (`RsyncModules`). When a read or write limit is set, the connection goes through a
/// `RsyncThrottle` (a socket pair between it and rsync); otherwise rsync gets the socket itself.
///
/// No rsync protocol is spoken here: the bytes are rsync's own, so every rsync client (3.x, and
/// protocol 27 as the reference CLI's gokr-rsync speaks) gets what rsync itself offers.
///
/// ## Concurrency model
/// The main thread accepts and spawns; rsync children are reaped by the kernel (SIGCHLD
/// ignored); each throttled connection has its two pump threads. The daemon ends when its
/// parent (the wrapper) is gone, or on SIGTERM, which the wrapper sends to the whole group.
public final class RsyncDaemon {
    public struct Options: Sendable {
        public var port = 16000
        public var runLocation = "/osmo/run"
        /// Client → daemon, bytes/s per connection (0: none).
        public var readLimit = 0
        /// Daemon → client, bytes/s per connection (0: none).
        public var writeLimit = 0
        public var pathAllowList = ""
        public init() {}
    }

    let options: Options
    let rsync: String
    let configPath: String
    var log: (String) -> Void

    public init(options: Options, log: @escaping (String) -> Void) throws {
        self.options = options
        self.log = log
        guard FileSystem.isDirectory(options.runLocation) else {
            throw OsmoError(.notFound, "Run location \(options.runLocation) does not exist")
        }
        guard let rsync = RsyncBinary.locate() else {
            throw OsmoError(.notFound, "no rsync binary: looked beside osmo, in its bundle and on PATH (\(getenv("PATH").map { String(cString: $0) } ?? ""))")
        }
        self.rsync = rsync
        let modules = try RsyncModules(runLocation: options.runLocation, allowList: options.pathAllowList)
        for line in modules.skipped { log(line) }
        var template = Array("/tmp/osmo-rsyncd-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw OsmoError(.io, "cannot create the rsync daemon's config directory in /tmp: \(SystemCall.describe(errno: errno))")
        }
        let directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        configPath = Path.join(directory, "rsyncd.conf")
        let logFile = FileSystem.exists("/proc/self/fd/2") ? "/dev/stderr" : Path.join(directory, "rsyncd.log")
        let version = Self.version(of: rsync)
        let confinesPaths = version.map { !$0.lexicographicallyPrecedes([3, 4]) } ?? false
        if !confinesPaths { log("\(rsync) is rsync \(version.map { $0.map(String.init).joined(separator: ".") } ?? "of an unknown version"), older than 3.4: uploaded symlinks are munged") }
        try FileSystem.writeAtomically(Array(modules.configuration(uid: getuid(), gid: getgid(), logFile: logFile, mungeSymlinks: !confinesPaths).utf8), to: configPath, mode: 0o600)
        log("Rsync modules: " + modules.modules.map { "\($0.name) → \($0.path)\($0.writable ? "" : " (read-only)")" }.joined(separator: ", "))
    }

    /// `[major, minor, patch]` from `rsync --version`'s first line (`rsync  version 3.2.7  protocol version 31`).
    static func version(of rsync: String) -> [Int]? {
        guard let pipe = try? ProcessControl.pipe() else { return nil }
        defer { close(pipe.read) }
        let child = try? ChildProcess.spawn(executable: rsync, arguments: ["rsync", "--version"], environment: ChildProcess.currentEnvironment, stdout: pipe.write)
        close(pipe.write)
        guard let child else { return nil }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while output.count < 1 << 16 {
            let n = buffer.withUnsafeMutableBytes { read(pipe.read, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        _ = try? child.wait()
        let words = String(decoding: output.prefix { $0 != 10 }, as: UTF8.self).split(separator: " ")
        guard let index = words.firstIndex(of: "version"), index + 1 < words.count else { return nil }
        let parts = words[index + 1].split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        return parts.isEmpty ? nil : parts
    }

    /// Serves until the parent goes away; returns the exit status.
    public func run() -> Int32 {
        SignalChannel.ignoreBrokenPipe()
        signal(SIGCHLD, SIG_IGN)
        let listener: TCPListener
        do { listener = try TCPListener(host: "127.0.0.1", port: options.port) } catch {
            log("Failed to create listener: \(error)")
            return 1
        }
        log("Starting rsync server on port \(listener.port) with run location \(options.runLocation) (\(rsync); read limit \(options.readLimit) B/s, write limit \(options.writeLimit) B/s)")
        let parent = getppid()
        while getppid() == parent {
            let accepted: Int32?
            do { accepted = try listener.accept(timeoutMilliseconds: 1000) } catch {
                log("accept failed: \(error)")
                usleep(100_000)
                continue
            }
            guard let fd = accepted else { continue }
            serve(fd)
        }
        log("Rsync server stopped: osmo_exec is gone")
        return 0
    }

    private func serve(_ fd: Int32) {
        let arguments = ["rsync", "--daemon", "--config=\(configPath)"]
        let environment = ChildProcess.currentEnvironment
        if options.readLimit <= 0 && options.writeLimit <= 0 {
            defer { close(fd) }
            do { _ = try ChildProcess.spawn(executable: rsync, arguments: arguments, environment: environment, stdin: fd, stdout: fd) } catch {
                log("cannot start rsync for a connection: \(error)")
            }
            return
        }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else {
            log("socketpair: \(SystemCall.describe(errno: errno))")
            close(fd)
            return
        }
        for end in pair { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        do {
            _ = try ChildProcess.spawn(executable: rsync, arguments: arguments, environment: environment, stdin: pair[1], stdout: pair[1])
        } catch {
            log("cannot start rsync for a connection: \(error)")
            close(pair[0]); close(pair[1]); close(fd)
            return
        }
        close(pair[1])
        RsyncThrottle(client: fd, server: pair[0]).start(upload: options.readLimit, download: options.writeLimit)
    }
}
