import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem
import Testing

/// The portable bundle in a root filesystem that holds nothing but glibc's own files, as in a
/// user's container image: `--version`, `init` and the wrapper must run there, with and without
/// `/proc`. Needs root (chroot) and a bundle: `.ci/run` builds one with `scripts/bundle.sh` and
/// sets `OSMO_BUNDLE`; under CI a missing bundle is a failure, not a skip.
@Suite(.serialized) struct BundleTests {
    static let packageRoot = Path.parent(Path.parent(Path.parent(#filePath)))
    static let bundle: String? = {
        if let env = getenv("OSMO_BUNDLE") { return String(cString: env) }
        let local = Path.join(packageRoot, "dist/osmo")
        return FileSystem.isExecutableFile(Path.join(local, "bin/osmo")) ? local : nil
    }()
    static let runsInCI = getenv("CI") != nil
    static let enabled = Shell.isRoot && (bundle != nil || runsInCI)

    /// glibc's files (package libc6) copied into `root`, nothing else.
    static func makeGlibcRoot(_ root: String) throws {
        try Shell.sh("""
            set -e
            mkdir -p '\(root)'
            dpkg -L libc6 | while read -r f; do
              case "$f" in /usr/share/*|/etc/*) continue ;; esac
              [ -d "$f" ] && continue
              if [ -f "$f" ] || [ -L "$f" ]; then mkdir -p "\(root)$(dirname "$f")"; cp -a "$f" "\(root)$f"; fi
            done
            mkdir -p '\(root)/proc' '\(root)/tmp'
            """)
    }

    static func chroot(_ root: String, _ arguments: [String]) throws -> Finished {
        try Shell.run("/usr/sbin/chroot", [root] + arguments, environment: ["PATH=/usr/bin:/bin", "LANG=C"])
    }

    @Test(.enabled(if: enabled)) func bundleRunsOnBareGlibc() throws {
        let bundle = try #require(Self.bundle, "no bundle: run scripts/bundle.sh (or set OSMO_BUNDLE)")
        let s = Scratch("osmo-bundle")
        let initRoot = s.at("init")
        try Self.makeGlibcRoot(initRoot)
        try Shell.sh("mkdir -p '\(initRoot)/osmo' && cp -a '\(bundle)/.' '\(initRoot)/osmo/'")
        // Nothing but glibc and the bundle.
        let stray = try Shell.sh("""
            cd '\(initRoot)' && find . -type f | sed 's|^\\.||' | grep -v '^/osmo/' | sort > '\(s.path)/files'
            dpkg -L libc6 | sort > '\(s.path)/libc6'
            comm -23 '\(s.path)/files' '\(s.path)/libc6'
            """)
        #expect(stray.isEmpty, "files not from libc6: \(stray)")

        for withProc in [false, true] {
            try withMountedProc(initRoot, withProc) {
                let version = try Self.chroot(initRoot, ["/osmo/bin/osmo", "--version"])
                #expect(version.status == 0, "\(version.stderr)")
                #expect(version.stdout.contains("libcurl: libcurl/"), "\(version.stdout)")
                #expect(version.stdout.contains("[/osmo/lib/libcurl.so.4]"), "\(version.stdout)")
            }
        }

        // init inside the bare root installs the bundle into the volumes.
        let initialized = try Self.chroot(initRoot, [
            "/osmo/bin/osmo", "init", "--data_location", "/vol/data", "--login_location", "/vol/login",
            "--user_bin_location", "/vol/usr-bin", "--run_location", "/vol/run", "--bin_location", "/vol/bin",
        ])
        #expect(initialized.status == 0, "\(initialized.stdout)\(initialized.stderr)")
        #expect(FileSystem.isExecutableFile(Path.join(initRoot, "vol/bin/osmo/osmo_exec")))
        #expect(FileSystem.exists(Path.join(initRoot, "vol/usr-bin/lib/libcurl.so.4")))

        // The user container: glibc, the wrapper bind-mounted as one file (as the OSMO service
        // mounts it) and the user bin volume. No /osmo/lib: libcurl must come from the volume.
        let userRoot = s.at("user")
        try Self.makeGlibcRoot(userRoot)
        try Shell.sh("""
            set -e
            mkdir -p '\(userRoot)/osmo/bin' '\(userRoot)/osmo/usr' '\(userRoot)/osmo/data/socket'
            cp '\(initRoot)/vol/bin/osmo/osmo_exec' '\(userRoot)/osmo/bin/osmo_exec'
            cp -a '\(initRoot)/vol/usr-bin' '\(userRoot)/osmo/usr/bin'
            """)
        for withProc in [false, true] {
            try withMountedProc(userRoot, withProc) {
                let ctrl = try FakeCtrl(path: Path.join(userRoot, "osmo/data/socket/data.sock"))
                let wrapper = try ChildProcess.spawn(
                    executable: "/usr/sbin/chroot",
                    arguments: ["chroot", userRoot, "/osmo/bin/osmo_exec", "-socketPath", "/osmo/data/socket/data.sock",
                                "-commands", "osmo", "-args", "--version"],
                    environment: ["PATH=/usr/bin:/bin"])
                try ctrl.accept()
                try ctrl.sendExecStart(outputFolder: "/osmo/data/output/")
                let final = try ctrl.readUntilFinished()
                ctrl.close()
                let status = try wrapper.wait()
                #expect(final?.type == .execFinished, "proc=\(withProc): \(ctrl.received)")
                #expect(status == .exited(0))
                #expect(ctrl.outLines.first == "osmo 0.1.0")
                #expect(ctrl.outLines.contains { $0.hasPrefix("libcurl: libcurl/") && $0.hasSuffix("[/osmo/usr/bin/lib/libcurl.so.4]") },
                        "proc=\(withProc): \(ctrl.outLines)")
            }
        }
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
