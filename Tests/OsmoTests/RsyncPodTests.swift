import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// rsync end to end (issue 15): `osmo workflow rsync` → the service's rsync action → the router
/// → ctrl (control on `/api/router/rsync/…`, connections on `/api/router/portforward/…`) → the
/// wrapper's daemon, all real processes: `osmo service`, `osmo pod run --rsync`, stock rsync.
@Suite struct RsyncPodTests {
    /// A port nothing listens on now, for the pod's daemon (pods share this machine's loopback).
    static func freePort() throws -> Int {
        try TCPListener(host: "127.0.0.1", port: 0).port
    }

    final class Task {
        let service: ServiceProcess
        let pod: PodProcess
        let shared = Scratch("osmo-rsync-shared")
        var workspace: String { Path.join(pod.podDirectory, "run/workspace") }

        init(_ workflow: String) throws {
            try FileSystem.makeDirectory(shared.at("ro"), mode: 0o755)
            try FileSystem.writeAtomically(Array("read me\n".utf8), to: shared.at("ro", "data.txt"))
            let allowed = "ro:\(shared.at("ro")):false"
            service = try ServiceProcess(["--rsync-workflow", workflow, "--rsync-path", allowed])
            pod = try PodProcess(url: service.url, tokenFile: service.tokenFile, workflow: workflow, task: "t", options: ["--rsync", "--rsync-path", allowed],
                                 command: ["sh", "-c", "echo up; sleep 120"], environment: ChildProcess.currentEnvironment + ["OSMO_RSYNC_PORT=\(try RsyncPodTests.freePort())"])
            #expect(service.waitFor(workflow, "t") { $0.contains { $0.Text == "up" } }, "\(pod.output)")
        }

        /// SIGTERM, as a pod deletion: the wrapper stops the command and its rsync daemon.
        deinit {
            pod.terminate()
            _ = pod.wait(timeout: patience(30))
        }

        func osmo(_ arguments: [String]) throws -> Finished {
            try Shell.run(OsmoBinary.path, ["workflow", "rsync"] + arguments + ["--service", service.url, "--no-progress"])
        }
    }

    @Test func uploadEditSyncAgainAndDownloadThroughTheRouter() throws {
        let task = try Task("wf-rsync")
        let local = Scratch("osmo-rsync-pod")
        try RsyncTests.oddTree(local.at("tree"))
        let first = try task.osmo(["upload", "wf-rsync", "t", local.at("tree") + "/:/osmo/run/workspace/tree/", "--stats"])
        #expect(first.status == 0, "\(first.stderr) \(task.pod.output)")
        #expect(try Shell.run("/usr/bin/diff", ["-r", "--no-dereference", local.at("tree"), Path.join(task.workspace, "tree")]).status == 0)

        try FileSystem.replaceContents(local.at("tree", "dir with space/nested/deep file.txt"), with: Array("changed\n".utf8))
        let second = try task.osmo(["upload", "wf-rsync", "t", local.at("tree") + "/:/osmo/run/workspace/tree/", "--stats"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(RsyncTests.regularFilesTransferred(second.stdout) == 1, "\(second.stdout)")
        #expect(text(of: Path.join(task.workspace, "tree/dir with space/nested/deep file.txt")) == "changed\n")

        // Without the trailing slash the directory itself arrives (rsync's rule, #1212).
        let named = try task.osmo(["wf-rsync", "t", local.at("tree") + ":/osmo/run/workspace/again"])
        #expect(named.status == 0, "\(named.stderr)")
        #expect(FileSystem.isDirectory(Path.join(task.workspace, "again/tree/dir with space")))

        let down = try task.osmo(["download", "wf-rsync", "t", "/osmo/run/workspace/tree:\(local.at("back"))"])
        #expect(down.status == 0, "\(down.stderr)")
        #expect(try Shell.run("/usr/bin/diff", ["-r", "--no-dereference", local.at("tree"), local.at("back", "tree")]).status == 0)

        let readOnly = try task.osmo(["download", "wf-rsync", "t", "\(task.shared.at("ro"))/data.txt:\(local.at("ro-back"))"])
        #expect(readOnly.status == 0 && text(of: local.at("ro-back", "data.txt")) == "read me\n", "\(readOnly.stderr)")
    }

    @Test func aProtocol27ClientThroughTheTunnel() throws {
        let task = try Task("wf-rsync27")
        let local = Scratch("osmo-rsync-27pod")
        try RsyncTests.oddTree(local.at("tree"))
        let up = try task.osmo(["upload", "wf-rsync27", "t", local.at("tree") + ":/osmo/run/workspace/", "--rsync-arg=--protocol=27"])
        #expect(up.status == 0, "\(up.stderr) \(task.pod.output)")
        #expect(try Shell.run("/usr/bin/diff", ["-r", "--no-dereference", local.at("tree"), Path.join(task.workspace, "tree")]).status == 0)
        let down = try task.osmo(["download", "wf-rsync27", "t", "/osmo/run/workspace/tree/:\(local.at("back"))", "--rsync-arg=--protocol=27"])
        #expect(down.status == 0, "\(down.stderr)")
        #expect(try Shell.run("/usr/bin/diff", ["-r", "--no-dereference", local.at("tree"), local.at("back")]).status == 0)
    }

    /// Every failure is an exit status and a reason, never a silent 0 (#1212).
    @Test func refusalsAndFailuresAreSaid() throws {
        let task = try Task("wf-rsync-refuse")
        let local = Scratch("osmo-rsync-refuse")
        try local.write("a.txt", "a\n")
        let readOnly = try task.osmo(["upload", "wf-rsync-refuse", "t", local.at("a.txt") + ":\(task.shared.at("ro"))/"])
        #expect(readOnly.status != 0 && readOnly.stderr.contains("read-only"), "\(readOnly.stderr)")
        #expect(!FileSystem.exists(task.shared.at("ro", "a.txt")))
        let outside = try task.osmo(["upload", "wf-rsync-refuse", "t", local.at("a.txt") + ":/etc/"])
        #expect(outside.status != 0 && outside.stderr.contains("not allowed for rsync"), "\(outside.stderr)")
        let missing = try task.osmo(["download", "wf-rsync-refuse", "t", "/osmo/run/workspace/no-such-thing:\(local.at("out"))"])
        #expect(missing.status != 0, "\(missing.stdout) \(missing.stderr)")
        let nothing = try task.osmo(["upload", "wf-rsync-refuse", "t", local.at("nope") + ":/osmo/run/workspace/"])
        #expect(nothing.status != 0 && nothing.stderr.contains("Local path does not exist"), "\(nothing.stderr)")

        // A workflow without the plugin: the service's 403, in its words.
        let plain = try PodProcess(service: task.service, workflow: "wf-plain", task: "t", command: ["sh", "-c", "echo up; sleep 60"])
        defer {
            plain.terminate()
            _ = plain.wait(timeout: patience(30))
        }
        #expect(task.service.waitFor("wf-plain", "t") { $0.contains { $0.Text == "up" } })
        let refused = try task.osmo(["upload", "wf-plain", "t", local.at("a.txt") + ":/osmo/run/workspace/"])
        #expect(refused.status != 0 && refused.stderr.contains("Rsync is not enabled for this workflow!"), "\(refused.stderr)")
    }
}

extension RsyncPodTests {
    /// The pod's daemon processes (their command line names the pod's run directory).
    static func daemons(_ pod: PodProcess) throws -> [String] {
        try Shell.run("/usr/bin/pgrep", ["-f", "rsyncDaemon.*\(Path.join(pod.podDirectory, "run"))"]).stdout.split(separator: "\n").map(String.init)
    }

    /// Killed, the daemon is started again and serves; the task's end ends it.
    @Test func theDaemonIsRestartedAndEndsWithTheTask() throws {
        let task = try Task("wf-rsync-restart")
        let first = try Self.daemons(task.pod)
        #expect(first.count == 1, "\(first)")
        for pid in first { kill(pid_t(pid) ?? 0, SIGKILL) }
        let deadline = Clock.now + patience(20)
        var again: [String] = []
        while Clock.now < deadline {
            again = try Self.daemons(task.pod)
            if !again.isEmpty && again != first { break }
            usleep(50_000)
        }
        #expect(again.count == 1 && again != first, "\(again)")
        #expect(text(of: Path.join(task.pod.podDirectory, "user-container.log")).contains("restarting it in"))
        let local = Scratch("osmo-rsync-restart")
        try local.write("a.txt", "after the restart\n")
        let up = try task.osmo(["upload", "wf-rsync-restart", "t", local.at("a.txt") + ":/osmo/run/workspace/"])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(text(of: Path.join(task.workspace, "a.txt")) == "after the restart\n")
        task.pod.terminate()
        #expect(task.pod.wait(timeout: patience(30)) >= 0)
        #expect(try Self.daemons(task.pod).isEmpty)
    }
}
