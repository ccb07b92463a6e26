import Glibc
import OsmoClient
import OsmoCore
import OsmoSystem
import OsmoWrapper
import Testing

/// The task's rsync daemon as the wrapper runs it (`osmo_exec -rsyncDaemon`: our listener, a
/// real `rsync --daemon` per connection), driven by stock rsync clients; and the CLI's path
/// rules. `RsyncPodTests` runs the whole chain through `osmo pod run`.
@Suite struct RsyncTests {
    static let rsync = RsyncBinary.locate() ?? "/usr/bin/rsync"

    /// `osmo_exec -rsyncDaemon` on a free port, until released.
    final class Daemon {
        let scratch = Scratch("osmo-rsyncd")
        let child: ChildProcess
        private(set) var port = 0
        var run: String { scratch.at("run") }
        var workspace: String { scratch.at("run", "workspace") }
        var log: String { text(of: scratch.at("daemon.log")) }

        init(_ extra: [String] = []) throws {
            try FileSystem.makeDirectory(scratch.at("run"), mode: 0o755)
            let fd = open(scratch.at("daemon.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            defer { close(fd) }
            child = try ChildProcess.spawn(
                executable: OsmoBinary.path,
                arguments: ["osmo_exec", "-rsyncDaemon", "-rsyncPort", "0", "-runLocation", scratch.at("run")] + extra,
                environment: ChildProcess.currentEnvironment, stdout: fd, stderr: fd, group: .newProcessGroup)
            let deadline = Clock.now + patience(20)
            while Clock.now < deadline {
                if let line = log.split(separator: "\n").first(where: { $0.contains("Starting rsync server on port ") }),
                   let port = Int(line.split(separator: "Starting rsync server on port ").last?.split(separator: " ").first ?? "") {
                    self.port = port
                    return
                }
                var status: Int32 = 0
                if waitpid(child.pid, &status, WNOHANG) == child.pid { break }
                usleep(20_000)
            }
            child.signal(SIGKILL, group: true)
            throw OsmoError(.io, "the rsync daemon did not start: \(log)")
        }

        deinit {
            child.signal(SIGKILL, group: true)
            _ = try? child.wait()
        }

        func url(_ path: String) -> String { "rsync://127.0.0.1:\(port)/\(path)" }
    }

    static func rsync(_ arguments: [String]) throws -> Finished {
        try Shell.run(rsync, arguments)
    }

    /// A tree whose names rsync and shells both find awkward.
    static func oddTree(_ root: String) throws {
        let names = ["plain.txt", "with space.txt", "quote'and\"dq.txt", "ünïcødé-名前.txt", "-leading-dash", "star*q?.txt",
                     "dir with space/nested/deep file.txt", "back\\slash.txt", "colon:name.txt", ".hidden/.dot"]
        for (index, name) in names.enumerated() {
            let path = Path.join(root, name)
            try FileSystem.makeDirectory(Path.parent(path), mode: 0o755)
            try FileSystem.writeAtomically(Array("file \(index): \(name)\n".utf8), to: path)
        }
        try Shell.sh("head -c 300000 /dev/urandom > '\(root)/binary.bin' && mkdir -p '\(root)/empty dir' && ln -s plain.txt '\(root)/link-to-plain'")
    }

    static func regularFilesTransferred(_ stats: String) -> Int? {
        stats.split(separator: "\n").first { $0.hasPrefix("Number of regular files transferred: ") }
            .flatMap { Int($0.split(separator: ": ").last?.replacing(",", with: "") ?? "") }
    }

    @Test func uploadsAnOddTreeThenOnlyTheChangeThenDownloadsItBack() throws {
        let daemon = try Daemon()
        let local = Scratch("osmo-rsync-src")
        try Self.oddTree(local.at("tree"))
        let first = try Self.rsync(["-a", "--stats", local.at("tree") + "/", daemon.url("osmo/tree/")])
        #expect(first.status == 0, "\(first.stderr) \(daemon.log)")
        #expect(try Shell.run("/usr/bin/diff", ["-r", "--no-dereference", local.at("tree"), Path.join(daemon.workspace, "tree")]).status == 0)
        #expect(Self.regularFilesTransferred(first.stdout) == 11, "\(first.stdout)")

        try FileSystem.replaceContents(local.at("tree", "with space.txt"), with: Array("edited\n".utf8))
        let second = try Self.rsync(["-a", "--stats", local.at("tree") + "/", daemon.url("osmo/tree/")])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(Self.regularFilesTransferred(second.stdout) == 1, "\(second.stdout)")
        #expect(text(of: Path.join(daemon.workspace, "tree", "with space.txt")) == "edited\n")

        let back = Scratch("osmo-rsync-back")
        let download = try Self.rsync(["-a", daemon.url("osmo/tree"), back.path + "/"])
        #expect(download.status == 0, "\(download.stderr)")
        #expect(try Shell.run("/usr/bin/diff", ["-r", "--no-dereference", local.at("tree"), back.at("tree")]).status == 0)
    }

    @Test func aProtocol27ClientWorksBothWays() throws {
        let daemon = try Daemon()
        let local = Scratch("osmo-rsync-27")
        try Self.oddTree(local.at("tree"))
        let up = try Self.rsync(["-a", "--protocol=27", local.at("tree"), daemon.url("osmo/")])
        #expect(up.status == 0, "\(up.stderr) \(daemon.log)")
        #expect(try Shell.run("/usr/bin/diff", ["-r", "--no-dereference", local.at("tree"), Path.join(daemon.workspace, "tree")]).status == 0)
        let down = try Self.rsync(["-a", "--protocol=27", daemon.url("osmo/tree/"), local.at("back")])
        #expect(down.status == 0, "\(down.stderr)")
        #expect(try Shell.run("/usr/bin/diff", ["-r", "--no-dereference", local.at("tree"), local.at("back")]).status == 0)
    }

    /// `..` and symlinks that lead out of a module are refused both ways (or, for `..`, kept
    /// inside the module as rsync sanitizes it); the outside is never read or written.
    @Test func escapesAreRefused() throws {
        let daemon = try Daemon()
        let outside = daemon.scratch.at("outside")
        try FileSystem.makeDirectory(outside, mode: 0o755)
        try FileSystem.writeAtomically(Array("secret\n".utf8), to: Path.join(outside, "secret"))
        try Shell.sh("ln -s '\(outside)' '\(daemon.workspace)/out' && ln -s '\(outside)/secret' '\(daemon.workspace)/secret-link'")
        let got = Scratch("osmo-rsync-escape")
        for source in ["osmo/out/secret", "osmo/../outside/secret", "osmo/out/"] {
            let result = try Self.rsync(["-a", daemon.url(source), got.at("x") + "/"])
            #expect(result.status != 0, "\(source): \(result.stdout)")
        }
        // Through `..` a client reaches the module's root and no further.
        #expect(try Self.rsync(["-a", daemon.url("osmo/../../"), got.at("root") + "/"]).status == 0)
        // A link is sent as a link, never its target's contents, even when asked to follow it.
        #expect(try Self.rsync(["-a", daemon.url("osmo/secret-link"), got.at("y") + "/"]).status == 0)
        #expect(FileSystem.readLink(got.at("y", "secret-link")) != nil)
        #expect(try Self.rsync(["-aL", daemon.url("osmo/secret-link"), got.at("z") + "/"]).status != 0)
        #expect(try Shell.run("/bin/grep", ["-r", "-l", "secret", got.path]).stdout.isEmpty, "secret content left the module")
        // Uploads through the link or above the module land nowhere outside.
        try FileSystem.writeAtomically(Array("planted\n".utf8), to: got.at("planted"))
        for target in ["osmo/out/planted", "osmo/out/", "osmo/../outside/", "osmo/../../"] {
            _ = try Self.rsync(["-a", got.at("planted"), daemon.url(target)])
        }
        #expect(try Self.rsync(["-a", got.at("planted"), daemon.url("osmo/out/")]).status != 0)
        // A tree that makes a link and then writes through it: the link is replaced, not followed.
        try Shell.sh("mkdir -p '\(got.path)/t1' '\(got.path)/t2/evil' && ln -s '\(outside)' '\(got.path)/t1/evil' && echo planted > '\(got.path)/t2/evil/planted'")
        #expect(try Self.rsync(["-a", got.at("t1") + "/", daemon.url("osmo/")]).status == 0)
        _ = try Self.rsync(["-a", got.at("t2") + "/", daemon.url("osmo/")])
        _ = try Self.rsync(["-aK", got.at("t2") + "/", daemon.url("osmo/")])
        #expect(try FileSystem.contents(of: outside) == ["secret"], "something was written outside the module")
    }

    @Test func allowListModulesKeepTheirModeAndBadEntriesAreSkipped() throws {
        let shared = Scratch("osmo-rsync-allow")
        try FileSystem.makeDirectory(shared.at("ro"), mode: 0o755)
        try FileSystem.makeDirectory(shared.at("rw"), mode: 0o755)
        try FileSystem.writeAtomically(Array("data\n".utf8), to: shared.at("ro", "data.txt"))
        let list = "ro:\(shared.at("ro")):false,rw:\(shared.at("rw")):true,bad,osmo:/tmp:true,gone:/no/such/path:true,odd:\(shared.at("rw")):yes"
        let daemon = try Daemon(["-rsyncPathAllowList", list])
        let modules = try Self.rsync([daemon.url("")])
        #expect(Set(modules.stdout.split(separator: "\n").map { String($0.split(separator: " ").first ?? "").trimmingSpaces() }) == ["osmo", "ro", "rw"], "\(modules.stdout)")
        for skipped in ["Invalid path allow list entry: bad", "Path allow list entry name already exists: osmo",
                        "Path allow list entry path does not exist: gone:/no/such/path:true", "Invalid writable value in path allow list entry: odd:"] {
            #expect(daemon.log.contains(skipped), "\(skipped): \(daemon.log)")
        }
        let file = shared.at("upload.txt")
        try FileSystem.writeAtomically(Array("up\n".utf8), to: file)
        let refused = try Self.rsync(["-a", file, daemon.url("ro/")])
        #expect(refused.status != 0 && refused.stderr.contains("read only"), "\(refused.stderr)")
        #expect(!FileSystem.exists(shared.at("ro", "upload.txt")))
        #expect(try Self.rsync(["-a", file, daemon.url("rw/")]).status == 0)
        #expect(text(of: shared.at("rw", "upload.txt")) == "up\n")
        let down = try Self.rsync(["-a", daemon.url("ro/data.txt"), shared.at("got") + "/"])
        #expect(down.status == 0 && text(of: shared.at("got", "data.txt")) == "data\n")
    }

    /// Each direction is held to its limit (never faster: a slow machine only makes it slower,
    /// so this bound cannot flake; how close it comes is `scripts/bench-rsync.sh`'s figure).
    @Test func perConnectionLimitsHoldBothWays() throws {
        let limit = 2 * 1024 * 1024
        let daemon = try Daemon(["-rsyncReadLimit", "\(limit)", "-rsyncWriteLimit", "\(limit)"])
        let local = Scratch("osmo-rsync-limit")
        try Shell.sh("head -c \(5 * limit) /dev/urandom > \(local.at("big.bin"))")
        var start = Clock.now
        let up = try Self.rsync(["-a", local.at("big.bin"), daemon.url("osmo/")])
        let upSeconds = Clock.now - start
        #expect(up.status == 0, "\(up.stderr)")
        #expect(Double(5 * limit) / upSeconds <= Double(limit) * 1.10, "upload at \(Double(5 * limit) / upSeconds) B/s")
        start = Clock.now
        let down = try Self.rsync(["-a", daemon.url("osmo/big.bin"), local.at("back") + "/"])
        let downSeconds = Clock.now - start
        #expect(down.status == 0, "\(down.stderr)")
        #expect(Double(5 * limit) / downSeconds <= Double(limit) * 1.10, "download at \(Double(5 * limit) / downSeconds) B/s")
        #expect(try Shell.run("/usr/bin/cmp", [local.at("big.bin"), local.at("back", "big.bin")]).status == 0)
    }

    @Test func theWorkspaceModuleIsCreatedAndEntriesFollowTheReference() throws {
        let scratch = Scratch("osmo-rsync-modules")
        try FileSystem.makeDirectory(scratch.at("ro"), mode: 0o755)
        let modules = try RsyncModules(runLocation: scratch.path, allowList: "a:\(scratch.at("ro")):,b::true,:x:true,a:\(scratch.at("ro")):true,c:\(scratch.at("ro")):false")
        #expect(FileSystem.isDirectory(scratch.at("workspace")))
        #expect(modules.modules == [
            .init(name: "osmo", path: scratch.at("workspace"), writable: true),
            .init(name: "a", path: scratch.at("ro"), writable: false),
            .init(name: "c", path: scratch.at("ro"), writable: false),
        ])
        #expect(modules.skipped.count == 3)
        let config = modules.configuration(uid: 1000, gid: 1000, logFile: "/dev/stderr", mungeSymlinks: true)
        #expect(!config.contains("uid =") && modules.configuration(uid: 0, gid: 0, logFile: "x", mungeSymlinks: false).contains("uid = 0\ngid = 0\n"))
        #expect(config.contains("use chroot = no") && config.contains("munge symlinks = yes") && config.contains("refuse options = copy-links") && config.contains("[c]\n    path = \(scratch.at("ro"))\n    read only = yes"))
    }

    @Test func remotePathsMapToTheLongestModuleAsTheReference() throws {
        let modules = [RsyncClient.Module.workspace, .init(name: "data", path: "/data", writable: false), .init(name: "deep", path: "/data/rw", writable: true)]
        let scratch = Scratch("osmo-rsync-map")
        try scratch.write("src/a", "a")
        let upload = { (text: String) in try RsyncClient.parse(text, direction: .upload, modules: modules) }
        #expect(try upload("\(scratch.at("src"))/:/osmo/run/workspace/code/").module == "osmo")
        #expect(try upload("\(scratch.at("src"))/:/osmo/run/workspace/code/").remotePath == "code/")
        #expect(try upload("\(scratch.at("src")):/osmo/run/workspace").remotePath == "")
        #expect(try upload("\(scratch.at("src")):/data/rw/x").module == "deep")
        #expect(throws: OsmoError.self) { try upload("\(scratch.at("src")):/data/x") }  // read-only for upload
        #expect(throws: OsmoError.self) { try upload("\(scratch.at("src")):/etc/passwd") }
        #expect(throws: OsmoError.self) { try upload("\(scratch.at("src")):relative/path") }
        #expect(throws: OsmoError.self) { try upload("\(scratch.at("src")):/osmo/run/workspace/../../etc") }
        #expect(throws: OsmoError.self) { try upload("\(scratch.at("nothing")):/osmo/run/workspace/") }
        #expect(throws: OsmoError.self) { try upload("no-colon-here") }
        let download = try RsyncClient.parse("/data/results:\(scratch.at("out"))", direction: .download, modules: modules)
        #expect(download.module == "data" && download.remotePath == "results" && download.local == scratch.at("out"))
        #expect(try RsyncClient.parse("/osmo/run/workspace/x\\:y:\(scratch.at("out"))", direction: .download, modules: modules).remotePath == "x:y")
    }
}

