import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// `osmo init` through the built binary, on real directories.
@Suite struct InitTests {
    static func arguments(_ s: Scratch) -> [String] {
        ["init", "--data_location", s.at("data"), "--login_location", s.at("login"),
         "--user_bin_location", s.at("usr/bin"), "--run_location", s.at("run"), "--bin_location", s.at("bin")]
    }

    func mode(_ path: String) -> mode_t { (FileSystem.status(path)?.st_mode ?? 0) & 0o7777 }

    @Test func createsLayoutWithModesAndLinks() throws {
        let s = Scratch()
        try s.write("login.yaml", "auth: {}\n")
        try s.write("user_config.yaml", "auth:\n  data: {}\n")
        let result = try Shell.run(OsmoBinary.path, Self.arguments(s) + [
            "--login_config", s.at("login.yaml"), "--user_config", s.at("user_config.yaml"),
        ])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.isEmpty)
        for name in ["benchmarks", "input", "output", "socket"] {
            #expect(FileSystem.isDirectory(s.at("data", name)))
            #expect(mode(s.at("data", name)) == 0o777, "\(name)")
        }
        #expect(mode(s.at("run/workspace")) == 0o777)
        #expect(mode(s.at("login/ctrl/config")) == 0o777)
        #expect(try FileSystem.readFile(s.at("login/ctrl/config/login.yaml")) == Array("auth: {}\n".utf8))
        #expect(try FileSystem.readFile(s.at("login/user/config/login.yaml")) == Array("auth: {}\n".utf8))
        #expect(try FileSystem.readFile(s.at("login/user/config/config.yaml")) == Array("auth:\n  data: {}\n".utf8))

        // One binary, every role name a hard link to it (single-file bind mounts need real files).
        let binary = FileSystem.status(s.at("bin/osmo/osmo"))!
        #expect(binary.st_mode & 0o777 == 0o755)
        #expect(binary.st_size == FileSystem.status(OsmoBinary.path)!.st_size)
        for name in ["osmo_ctrl", "osmo_exec", "osmo-ctrl", "osmo-user", "osmo-init"] {
            let link = FileSystem.status(s.at("bin/osmo", name))!
            #expect(link.st_ino == binary.st_ino, "\(name) is a hard link")
        }
        #expect(FileSystem.readLink(s.at("usr/bin/osmo")) == "/osmo/bin/osmo_exec")

        // The installed link really runs its role.
        let exec = try Shell.run(s.at("bin/osmo/osmo_exec"), ["-h"])
        #expect(exec.stderr.contains("Usage of osmo_exec:"))
    }

    @Test func rerunIsANoOp() throws {
        let s = Scratch()
        #expect(try Shell.run(OsmoBinary.path, Self.arguments(s)).status == 0)
        let before = FileSystem.status(s.at("bin/osmo/osmo"))!
        try s.write("data/input/0/file", "user data")
        let again = try Shell.run(OsmoBinary.path, Self.arguments(s) + ["--verbose"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already initialized"))
        let after = FileSystem.status(s.at("bin/osmo/osmo"))!
        #expect(after.st_ino == before.st_ino, "binary not reinstalled")
        #expect(try FileSystem.readFile(s.at("data/input/0/file")) == Array("user data".utf8))
    }

    /// `lost+found` alone (a fresh ext4 volume) does not count as initialised.
    @Test func lostAndFoundIsIgnored() throws {
        let s = Scratch()
        try FileSystem.makeDirectory(s.at("data/lost+found"), mode: 0o700)
        let result = try Shell.run(OsmoBinary.path, Self.arguments(s) + ["--verbose"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("initialized \(s.at("data"))"))
        #expect(FileSystem.isDirectory(s.at("data/socket")))
    }

    @Test func unwritableLocationFailsWithReferenceMessage() throws {
        let s = Scratch()
        try s.write("not-a-dir", "x")
        var args = Self.arguments(s)
        args[args.firstIndex(of: "--bin_location")! + 1] = s.at("not-a-dir/bin")
        let result = try Shell.run(OsmoBinary.path, args)
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("Error initializing OSMO: cannot create directory \(s.at("not-a-dir/bin"))"))
        #expect(result.stdout.contains("Not a directory"))
        // Nothing claims the volume is initialised, so a retry redoes everything.
        #expect(!FileSystem.exists(s.at("data/socket")))
    }

    @Test func explicitMissingConfigFails() throws {
        let s = Scratch()
        let result = try Shell.run(OsmoBinary.path, Self.arguments(s) + ["--login_config", s.at("missing.yaml")])
        #expect(result.status == 1)
        #expect(result.stdout == "Error initializing OSMO: \(s.at("missing.yaml")) does not exist\n")
    }

    @Test func badFlagIsUsageError() throws {
        let result = try Shell.run(OsmoBinary.path, ["init", "--no-such-flag"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--no-such-flag"))
    }

    /// A real crash mid-copy: init copies from a FIFO we feed half the bytes, then SIGKILL it.
    /// The destination holds the previous binary (or nothing), never a truncated one.
    @Test(arguments: [true, false])
    func crashMidCopyNeverLeavesTruncatedBinary(previousInstall: Bool) throws {
        let s = Scratch()
        if previousInstall {
            try s.write("bin/osmo/osmo", "previous binary", mode: 0o755)
        }
        #expect(mkfifo(s.at("fifo"), 0o600) == 0)
        let child = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo"] + Self.arguments(s) + ["--source", s.at("fifo")],
            environment: ChildProcess.currentEnvironment)
        let fd = open(s.at("fifo"), O_WRONLY | O_CLOEXEC)
        #expect(fd >= 0)
        let half = [UInt8](repeating: 0x7F, count: 256 * 1024)
        try half.withUnsafeBytes { try FileSystem.writeAll(fd, $0, what: "fifo") }
        // Wait until the copy is under way (the temporary file has grown), then crash it.
        var waited = 0
        while waited < 500 {
            let temps = (try? FileSystem.contents(of: s.at("bin/osmo")))?.filter { $0.contains("osmo-tmp") } ?? []
            if let temp = temps.first, (FileSystem.status(s.at("bin/osmo", temp))?.st_size ?? 0) > 0 { break }
            usleep(10_000)
            waited += 1
        }
        child.signal(SIGKILL)
        close(fd)
        #expect(try child.wait() == .signaled(SIGKILL))
        if previousInstall {
            #expect(try FileSystem.readFile(s.at("bin/osmo/osmo")) == Array("previous binary".utf8))
        } else {
            #expect(!FileSystem.exists(s.at("bin/osmo/osmo")))
        }
        #expect(!FileSystem.exists(s.at("data/socket")), "an interrupted init is not marked done")
        // The next init completes and replaces the leftovers.
        let retry = try Shell.run(OsmoBinary.path, Self.arguments(s))
        #expect(retry.status == 0)
        #expect(FileSystem.status(s.at("bin/osmo/osmo"))!.st_size == FileSystem.status(OsmoBinary.path)!.st_size)
    }
}
