import FoundationEssentials
import Glibc
import OsmoCore
import OsmoInit
import OsmoPod
import OsmoSystem
import Testing

/// Issue 13 §3: the manifest `osmo pod manifest` generates runs under a real container engine.
/// podman 4.3.1 (`kube play`) runs the three-container pod with images buildah builds here from
/// scratch (no registry): the runtime image (the bundle, for init and ctrl) and a user image. ctrl
/// reports to a real `osmo service` on 127.0.0.1 (the manifest's `--service-url`; the refresh
/// token and the other three files are rendered as Secrets), downloads its input from an HTTP
/// server on 127.0.0.1 and uploads `{{output}}` to it by PUT. The manifest always wires ctrl to a
/// service, as the platform does; running the local one keeps the pod exactly the cluster's
/// (no `--no-service` manifest mode is needed), and lets the test see the lines arrive there.
///
/// The manifest is rewritten only where podman 4.3.1 falls short (`Tests/Servers/podman_kube.py`:
/// subPath, emptyDir, Secrets); the same manifest, unrewritten, passes `kubernetes-validate
/// --strict`. Needs root (buildah mounts, runc); skipped only when not root and not under CI,
/// where a missing podman or bundle is a failure.
@Suite(.serialized) struct PodmanTests {
    static let enabled = Shell.isRoot || BundleTests.runsInCI

    /// The user images: glibc, busybox (no libc at all) and musl. The wrapper starts in each: the
    /// bundle carries its own loader and libc (issue 13 §1).
    enum UserImage: String, CaseIterable, CustomTestStringConvertible {
        case glibc, busybox, musl
        var testDescription: String { rawValue }
    }

    /// One pod run: the engine, the servers, the rendered manifest and what came of it.
    final class PodRun {
        let engine: PodmanEngine
        let http: HTTPTestServer
        let service: ServiceProcess
        let tag = "t\(getpid())"
        let name: String
        var volumes: String { engine.scratch.at("volumes-\(name)") }
        let manifest: String
        var userContainer: String { "\(name)-task" }
        var ctrlContainer: String { "\(name)-osmo-ctrl" }

        /// `inputs`: paths on the HTTP server. The engine's images are built on first use.
        init(_ engine: PodmanEngine, _ user: UserImage, name: String, inputs: [String], command: [String]) throws {
            let bundle = try #require(BundleTests.bundle, "no bundle: run scripts/bundle.sh (or set OSMO_BUNDLE)")
            self.engine = engine
            let http = try HTTPTestServer(), service = try ServiceProcess()
            self.http = http
            self.service = service
            self.name = name
            let runtimeImage = "localhost/osmo-runtime:\(tag)", userImage = "localhost/osmo-user-\(user.rawValue):\(tag)"
            try engine.image(runtimeImage, ["runtime", bundle])
            try engine.image(userImage, ["user", user.rawValue])
            let files = Scratch("osmo-podman-files")
            try files.write("login.yaml", "url: \(service.url)\n")
            try files.write("user_config.yaml", "auth: {}\n")
            try files.write("service_config.yaml", "auth: {}\n")
            let arguments = ["pod", "manifest", "--name", name, "--workflow", "wf-podman", "--task", "task",
                             "--image", userImage, "--runtime-image", runtimeImage,
                             "--service-url", service.url, "--refresh-token-file", service.tokenFile, "--login-file", files.at("login.yaml"),
                             "--user-config-file", files.at("user_config.yaml"), "--service-config-file", files.at("service_config.yaml"),
                             "--output", http.url("out/")]
                + inputs.flatMap { ["--input", http.url($0)] } + ["--"] + command
            manifest = try ManifestTests.render(arguments)
        }

        deinit { _ = try? engine.podman(["pod", "rm", "--force", "--time", "0", name], timeout: 60) }

        /// The rewrite for podman 4.3.1, `kube play --start=false`, the emptyDir stand-ins emptied
        /// of the placeholders the hostPaths needed at play time, `pod start` (init runs first).
        func start() throws {
            try engine.scratch.write("\(name).yaml", manifest)
            let rewrite = try Shell.run(Python.path, [
                ServerScripts.path("podman_kube.py"), engine.scratch.at("\(name).yaml"), volumes, engine.scratch.at("\(name)-podman.yaml"),
                "--file", PodPlan.Layout.cluster.wrapperExecutable, "--file", PodPlan.Layout.cluster.ctrlExecutable,
            ])
            try #require(rewrite.status == 0, "podman_kube.py: \(rewrite.stderr)")
            let play = try engine.podman(["kube", "play", "--start=false", "--network", "host", engine.scratch.at("\(name)-podman.yaml")], timeout: 120)
            try #require(play.status == 0, "kube play: \(play.stdout)\(play.stderr)")
            try Shell.sh("find '\(volumes)/empty' -mindepth 2 -maxdepth 2 -exec rm -rf {} +")
            let start = try engine.podman(["pod", "start", name], timeout: 120)
            try #require(start.status == 0, "pod start: \(start.stdout)\(start.stderr)")
        }

        /// Waits for the user container, then ctrl (each bounded), and returns their exit codes.
        /// When the engine could not even execute the wrapper (a user image it cannot start in),
        /// ctrl would wait `-unixTimeout` for it: that is recorded as an issue, not waited out.
        func wait() throws -> (user: Int32, ctrl: Int32)? {
            let user = try #require(try engine.wait(userContainer, timeout: 180), "the user container did not end: \(engine.logs(userContainer))")
            let userLog = engine.logs(userContainer)
            if userLog.contains("exec \(PodPlan.Layout.cluster.wrapperExecutable):") {
                Issue.record("\(Self.wrapperDidNotStart) (exit \(user)): \(userLog)")
                return nil
            }
            let ctrl = try #require(try engine.wait(ctrlContainer, timeout: 60), "ctrl did not end: \(engine.logs(ctrlContainer))")
            return (user, ctrl)
        }

        static let wrapperDidNotStart = "the user container could not start the wrapper"

        var diagnostics: String {
            "user:\n\(engine.logs(userContainer))\nctrl:\n\(engine.logs(ctrlContainer))"
        }
    }

    /// The whole task in each user image: init fills the volumes, ctrl downloads the input, the
    /// command reads it (and runs the in-task CLI from the user bin volume), its output is
    /// uploaded, the lines reach the service, and both containers end 0.
    @Test(.enabled(if: enabled), arguments: UserImage.allCases)
    func podRunsUnderPodman(_ user: UserImage) throws {
        let greeting = "hello from 127.0.0.1 \(getpid())\n"
        let script = "cat {{input:0}}/greeting.txt; wc -c < {{input:0}}/greeting.txt > {{output}}/count.txt; "
            + "osmo --version; cat /osmo/login/config/login.yaml"
        let run = try PodRun(try PodmanEngine(), user, name: "osmo-podman-\(user.rawValue)", inputs: ["in/greeting.txt"], command: ["/bin/sh", "-c", script])
        try run.http.put("in/greeting.txt", Array(greeting.utf8))
        try runsTheTask(run, greeting)
    }

    func runsTheTask(_ run: PodRun, _ greeting: String) throws {
        // The same manifest, unrewritten, is a valid Pod for Kubernetes.
        for (version, result) in try ManifestTests.validate(run.manifest, Scratch("osmo-podman-validate")) {
            #expect(result.status == 0, "Kubernetes \(version): \(result.stdout) \(result.stderr)")
        }
        try run.start()
        guard let codes = try run.wait() else { return }
        #expect(codes.user == 0 && codes.ctrl == 0, "\(run.diagnostics)")

        // init filled the volumes (the binary, its role links, the CLI and its libraries, the
        // login files, the data layout).
        let empty = Path.join(run.volumes, "empty")
        let bundle = try #require(BundleTests.bundle)
        #expect(FileSystem.status(Path.join(empty, "osmo/osmo/osmo_exec"))?.st_size == FileSystem.status(Path.join(bundle, "bin/osmo"))?.st_size)
        #expect(FileSystem.readLink(Path.join(empty, "osmo-usr-bin/osmo")) == PodPlan.Layout.cluster.wrapperExecutable)
        #expect(FileSystem.exists(Path.join(empty, "osmo-usr-bin/lib/libcurl.so.4")))
        #expect(text(of: Path.join(empty, "osmo-login/user/config/login.yaml")) == "url: \(run.service.url)\n")
        for name in Initializer.dataSubdirectories { #expect(FileSystem.isDirectory(Path.join(empty, "osmo-data", name)), "\(name)") }
        // ctrl downloaded the input, the command read it and its output was uploaded.
        #expect(text(of: Path.join(empty, "osmo-data/input/0/greeting.txt")) == greeting)
        #expect(text(of: Path.join(run.http.root, "out/count.txt")).trimmingSpaces() == "\(greeting.utf8.count)")
        // The command's lines reached the service through ctrl, and ctrl's console shows them.
        let lines = run.service.records("wf-podman", "task").map(\.Text)
        #expect(lines.contains(greeting.trimmingSpaces()), "\(lines)")
        #expect(lines.contains { $0.contains("libcurl: libcurl/") }, "the in-task CLI did not start: \(lines)")
        #expect(lines.contains("url: \(run.service.url)"), "\(lines)")
        #expect(run.engine.logs(run.ctrlContainer).contains("[task] \(greeting.trimmingSpaces())"), "\(run.diagnostics)")
    }

    /// Exit codes as in a cluster: a failing command ends the user container with its code and
    /// ctrl with 0 (outputs still uploaded); a bad input ends ctrl with its download code (10)
    /// and the wrapper at once with 0, the command never run.
    @Test(.enabled(if: enabled)) func exitCodesAreAClustersExitCodes() throws {
        let engine = try PodmanEngine()
        do {
            let run = try PodRun(engine, .glibc, name: "osmo-podman-fails", inputs: [],
                                 command: ["/bin/sh", "-c", "echo partial > {{output}}/partial.txt; exit 3"])
            try run.start()
            let codes = try #require(try run.wait())
            #expect(codes.user == 3 && codes.ctrl == 0, "\(run.diagnostics)")
            #expect(text(of: Path.join(run.http.root, "out/partial.txt")) == "partial\n")
        }
        do {
            let run = try PodRun(engine, .glibc, name: "osmo-podman-bad-input", inputs: ["in/missing.txt"],
                                 command: ["/bin/sh", "-c", "echo ran > {{output}}/ran.txt"])
            try run.start()
            let codes = try #require(try run.wait())
            #expect(codes.ctrl == ExitCode.downloadFailed.rawValue && codes.user == 0, "\(run.diagnostics)")
            #expect(!FileSystem.exists(Path.join(run.http.root, "out/ran.txt")), "the command ran")
        }
    }
}
