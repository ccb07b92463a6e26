import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem
import Testing

/// The portable bundle in the root filesystems of the images it must start in (issue 13 §1):
/// glibc as Debian ships it, glibc reduced to libc.so.6 and libm.so.6, musl only, and busybox
/// with no libc at all. In each, with and without `/proc`: `--version`, `osmo_init` found on
/// `PATH` by its role name, and in a user container laid out as the pod lays it the wrapper
/// (`osmo_exec`, one file) running the in-task CLI, which downloads a file with libcurl from a
/// host named in the root's `/etc/hosts`. Needs root (chroot) and a bundle: `.ci/run` builds one
/// with `scripts/bundle.sh` and sets `OSMO_BUNDLE`; under CI a missing bundle is a failure.
@Suite(.serialized) struct BundleTests {
    static let packageRoot = Path.parent(Path.parent(Path.parent(#filePath)))
    static let bundle: String? = {
        if let env = getenv("OSMO_BUNDLE") { return String(cString: env) }
        let local = Path.join(packageRoot, "dist/osmo")
        return FileSystem.isExecutableFile(Path.join(local, "bin/osmo")) ? local : nil
    }()
    static let runsInCI = getenv("CI") != nil
    static let enabled = Shell.isRoot && (bundle != nil || runsInCI)
    /// The name the download uses: only the root's /etc/hosts knows it.
    static let fileHost = "osmo-bundle-files"

    enum Image: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case glibc, glibcCore = "glibc-libc-libm-only", musl, busybox
        var testDescription: String { rawValue }
    }

    /// A root holding only `image`'s files, plus `/proc` and `/tmp` to mount on and an `/etc/hosts`.
    static func makeRoot(_ image: Image, _ root: String) throws {
        // Every file of the package at its own path (directories follow).
        func package(_ name: String, only filter: String = "cat") -> String {
            """
            dpkg -L \(name) | \(filter) | while read -r f; do
              case "$f" in /usr/share/*|/etc/*) continue ;; esac
              [ -d "$f" ] && continue
              if [ -f "$f" ] || [ -L "$f" ]; then mkdir -p "\(root)$(dirname "$f")"; cp -a "$f" "\(root)$f"; fi
            done
            """
        }
        let files: String
        switch image {
        case .glibc: files = package("libc6")
        case .glibcCore: files = package("libc6", only: "grep -E '/(libc\\.so\\.6|libm\\.so\\.6|ld-linux[^/]*)$'")
        case .musl: files = package("musl")
        case .busybox: files = package("busybox-static") + "\nchroot '\(root)' /bin/busybox --install -s /bin"
        }
        try Shell.sh("""
            set -e
            mkdir -p '\(root)'
            \(files)
            mkdir -p '\(root)/proc' '\(root)/tmp' '\(root)/etc'
            printf '127.0.0.1 localhost\\n127.0.0.1 \(fileHost)\\n' > '\(root)/etc/hosts'
            """)
    }

    /// What is in a root outside `/osmo`: libc-like files only where the image kind has them.
    static func libraries(in root: String) throws -> [String] {
        try Shell.sh("cd '\(root)' && find . -path ./osmo -prune -o \\( -name 'libc.so*' -o -name 'ld-*' -o -name 'libm.so*' -o -name 'libc.musl*' \\) -print | sed 's|^\\.||' | sort")
            .split(separator: "\n").map(String.init)
    }

    static func chroot(_ root: String, _ arguments: [String], path: String = "/usr/bin:/bin") throws -> Finished {
        try Shell.run("/usr/sbin/chroot", [root] + arguments, environment: ["PATH=\(path)", "LANG=C"])
    }

    @Test(.enabled(if: enabled), arguments: Image.allCases)
    func bundleStartsIn(_ image: Image) throws {
        let bundle = try #require(Self.bundle, "no bundle: run scripts/bundle.sh (or set OSMO_BUNDLE)")
        let s = Scratch("osmo-bundle")
        let server = try HTTPTestServer()
        let payload = testBytes(300_000, seed: 13)
        try server.put("inputs/payload.bin", payload)

        // The runtime side: the image, the bundle at /osmo and role names as hard links (as
        // images/Containerfile makes them).
        let initRoot = s.at("init")
        try Self.makeRoot(image, initRoot)
        try Shell.sh("""
            set -e
            mkdir -p '\(initRoot)/osmo' && cp -a '\(bundle)/.' '\(initRoot)/osmo/'
            cd '\(initRoot)/osmo/bin' && for n in osmo_init osmo_ctrl; do ln osmo "$n"; done
            """)
        let libraries = try Self.libraries(in: initRoot)
        switch image {
        case .glibc, .glibcCore:
            #expect(libraries.contains { $0.hasSuffix("/libc.so.6") }, "\(libraries)")
            #expect(!libraries.contains { $0.contains("musl") }, "\(libraries)")
        case .musl:
            #expect(libraries.contains { $0.contains("ld-musl") }, "\(libraries)")
            #expect(!libraries.contains { $0.hasSuffix("/libc.so.6") || $0.contains("ld-linux") }, "\(libraries)")
        case .busybox:
            #expect(libraries.isEmpty, "a busybox root has no libc: \(libraries)")
        }
        if image == .glibcCore {
            #expect(libraries.allSatisfy { ["libc.so.6", "libm.so.6"].contains(Path.basename($0)) || Path.basename($0).hasPrefix("ld-linux") }, "\(libraries)")
        }

        for withProc in [false, true] {
            try withMountedProc(initRoot, withProc) {
                let version = try Self.chroot(initRoot, ["/osmo/bin/osmo", "--version"])
                #expect(version.status == 0, "\(image) proc=\(withProc): \(version.stderr)")
                #expect(version.stdout.contains("libcurl: libcurl/"), "\(version.stdout)")
                #expect(version.stdout.contains("[/osmo/lib/libcurl.so.4]"), "\(version.stdout)")

                // init by its role name, found on PATH, installs the bundle into the volumes.
                // Paths inside the root (Path.join would drop the root before an absolute part).
                let vol = "/vol-\(withProc ? "proc" : "noproc")"
                let initialized = try Self.chroot(initRoot, [
                    "osmo_init", "--data_location", "\(vol)/data", "--login_location", "\(vol)/login",
                    "--user_bin_location", "\(vol)/usr-bin", "--run_location", "\(vol)/run", "--bin_location", "\(vol)/bin",
                ], path: "/osmo/bin:/usr/bin:/bin")
                #expect(initialized.status == 0, "\(image) proc=\(withProc): \(initialized.stdout)\(initialized.stderr)")
                #expect(FileSystem.isExecutableFile(initRoot + vol + "/bin/osmo/osmo_exec"))
                #expect(FileSystem.exists(initRoot + vol + "/usr-bin/lib/libcurl.so.4"))
                #expect(FileSystem.isExecutableFile(initRoot + vol + "/usr-bin/lib/osmo.real"))
            }
        }

        // The user container: the image, the wrapper bind-mounted as one file (as the OSMO
        // service mounts it) and the user bin volume. No /osmo/lib: everything comes from the volume.
        let userRoot = s.at("user")
        try Self.makeRoot(image, userRoot)
        try Shell.sh("""
            set -e
            mkdir -p '\(userRoot)/osmo/bin' '\(userRoot)/osmo/usr' '\(userRoot)/osmo/data/socket'
            cp '\(initRoot)/vol-proc/bin/osmo/osmo_exec' '\(userRoot)/osmo/bin/osmo_exec'
            cp -a '\(initRoot)/vol-proc/usr-bin' '\(userRoot)/osmo/usr/bin'
            """)
        for withProc in [false, true] {
            try withMountedProc(userRoot, withProc) {
                let label = "\(image) proc=\(withProc)"
                // Without /proc the wrapper is also PID 1 of its own PID namespace.
                let version = try runWrapper(userRoot, ["osmo", "--version"], asPID1: !withProc)
                #expect(version.status == .exited(0), "\(label): \(version.ctrl.received)")
                #expect(version.ctrl.outLines.first == "osmo 0.1.0", "\(label): \(version.ctrl.outLines)")
                #expect(version.ctrl.outLines.contains { $0.hasPrefix("libcurl: libcurl/") && $0.hasSuffix("[/osmo/usr/bin/lib/libcurl.so.4]") },
                        "\(label): \(version.ctrl.outLines)")

                // libcurl, the name from /etc/hosts, through the CLI on the user's PATH.
                let target = "/tmp/download-\(withProc)"
                let url = "http://\(Self.fileHost):\(server.port)/inputs/payload.bin"
                let download = try runWrapper(userRoot, ["osmo", "data", "download", url, target], asPID1: !withProc)
                #expect(download.status == .exited(0), "\(label): \(download.ctrl.outLines) \(download.ctrl.errLines)")
                #expect((try? FileSystem.readFile(userRoot + target + "/payload.bin")) == payload, "\(label): \(download.ctrl.errLines)")

                if image == .busybox {
                    // The image's own programs run, and inherit none of the launcher's variables.
                    let env = try runWrapper(userRoot, ["env"], asPID1: !withProc)
                    #expect(env.status == .exited(0), "\(label): \(env.ctrl.errLines)")
                    #expect(env.ctrl.outLines.contains { $0.hasPrefix("PATH=") }, "\(label): \(env.ctrl.outLines)")
                    #expect(!env.ctrl.outLines.contains { $0.hasPrefix("OSMO_LAUNCH") || $0.hasPrefix("LOCPATH=") }, "\(label): \(env.ctrl.outLines)")
                    let parent = try runWrapper(userRoot, ["sh", "-c", "echo ppid=$PPID"], asPID1: !withProc)
                    #expect(parent.status == .exited(0), "\(label): \(parent.ctrl.errLines)")
                    if !withProc { #expect(parent.ctrl.outLines == ["ppid=1"], "\(label): \(parent.ctrl.outLines)") }
                }
            }
        }
    }

    /// One wrapper session in `root`: `osmo_exec` (PID 1's path in the user container) runs
    /// `command`; `asPID1` starts it in a new PID namespace, as the container's first process.
    func runWrapper(_ root: String, _ command: [String], asPID1: Bool = false) throws -> (ctrl: FakeCtrl, status: ChildProcess.Termination) {
        let socket = Path.join(root, "osmo/data/socket/data.sock")
        unlink(socket)
        let ctrl = try FakeCtrl(path: socket)
        var arguments = (asPID1 ? ["unshare", "--pid", "--fork", "/usr/sbin/chroot"] : ["chroot"]) + [root, "/osmo/bin/osmo_exec", "-socketPath", "/osmo/data/socket/data.sock", "-commands", command[0]]
        for argument in command.dropFirst() { arguments += ["-args", argument] }
        let wrapper = try ChildProcess.spawn(executable: asPID1 ? "/usr/bin/unshare" : "/usr/sbin/chroot", arguments: arguments, environment: ["PATH=/usr/bin:/bin"])
        try ctrl.accept(timeoutSeconds: Int32(patience(20)))
        try ctrl.sendExecStart(outputFolder: "/osmo/data/output/")
        _ = try ctrl.read(timeoutSeconds: patience(60)) { $0.type == .execFinished || $0.type == .execFailed }
        ctrl.close()
        return (ctrl, try wrapper.wait())
    }

    func withMountedProc(_ root: String, _ mountProc: Bool, _ body: () throws -> Void) throws {
        guard mountProc else {
            #expect(!FileSystem.exists(Path.join(root, "proc/self")), "no /proc in the bare root")
            return try body()
        }
        try Shell.sh("mount -t proc proc '\(root)/proc'")
        defer { _ = try? Shell.sh("umount '\(root)/proc'") }
        try body()
    }
}
