import FoundationEssentials
import Glibc
import OsmoClient
@testable import OsmoCommands
import OsmoCore
import OsmoSystem
import Testing

/// A TCP socket listening on 127.0.0.1 (a busy port), closed on release.
final class Listener {
    let fd: Int32
    let port: Int

    init(port: Int = 0) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw OsmoError(.io, "cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }

    /// A port nothing listens on (bound, then released).
    static func closedPort() throws -> Int { try Listener().port }

    /// `count` consecutive ports free right now.
    static func freeRange(_ count: Int) -> Int? {
        for _ in 0..<50 {
            let base = Int.random(in: 20000...60000)
            let held = (0..<count).compactMap { try? Listener(port: base + $0) }
            if held.count == count { return base }
        }
        return nil
    }
}

/// Issue 12 §5, §8 (port-forward, completion) and §9 through the built binary: mistakes are
/// explained with the nearest right thing, failures to connect are said at once with the URL
/// and a hint, port ranges and reconnection follow the reference CLI.
@Suite struct CLIMannersTests {
    static func osmo(_ arguments: [String], environment: [String]? = nil) throws -> Finished {
        try Shell.run(OsmoBinary.path, arguments, environment: environment, stdin: "")
    }

    // MARK: §9 command-line manners

    @Test func mistypedRoleSuggestsTheNearest() throws {
        let typo = try Self.osmo(["dta", "download", "s3://b/x", "/tmp/x"])
        #expect(typo.status == 2)
        #expect(typo.stderr.hasPrefix("osmo: unknown role 'dta': did you mean `data`?"), "\(typo.stderr)")
        let swapped = try Self.osmo(["prot-forward", "wf", "t"])
        #expect(swapped.stderr.contains("did you mean `port-forward`?"), "\(swapped.stderr)")
        // A role's subcommand given as the role.
        let run = try Self.osmo(["run", "--", "true"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("did you mean `osmo pod run`?"), "\(run.stderr)")
        // Nothing near: the list, as before.
        let far = try Self.osmo(["frobnicate"])
        #expect(far.stderr == "osmo: unknown role 'frobnicate' (valid: init, ctrl, user, data, pod, service, exec, port-forward, workflow)\n")
    }

    @Test(arguments: [
        (["data", "downlaod", "s3://b/x", "/tmp/x"], "`osmo data download`"),
        (["data", "lsit", "s3://b/"], "`osmo data list`"),
        (["pod", "rnu", "--", "true"], "`osmo pod run`"),
        (["workflow", "exce", "wf", "t"], "`osmo workflow exec`"),
        (["workflow", "port-froward", "wf", "t"], "`osmo workflow port-forward`"),
    ])
    func mistypedSubcommandSuggestsTheNearest(arguments: [String], suggestion: String) throws {
        let result = try Self.osmo(arguments)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("Error: '\(arguments[1])' is not a command of `osmo \(arguments[0])`: did you mean \(suggestion)?\n"), "\(result.stderr)")
        #expect(result.stderr.contains("Usage: osmo \(arguments[0]) <subcommand>"), "\(result.stderr)")
    }

    @Test(arguments: [
        (["pod", "run", "echo", "hello"], "osmo pod run -- echo hello"),
        (["pod", "run", "--task", "t1", "python3", "x.py"], "osmo pod run --task t1 -- python3 x.py"),
        (["pod", "manifest", "echo", "hi"], "osmo pod manifest -- echo hi"),
        (["exec", "wf", "t", "ls"], "osmo exec wf t -- ls"),
        (["exec", "wf", "t", "ls", "-la"], "osmo exec wf t -- ls -la"),
        (["workflow", "exec", "wf", "t", "cat", "/etc/hostname"], "osmo workflow exec wf t -- cat /etc/hostname"),
    ])
    func commandWithoutDashesIsPointedAtDashes(arguments: [String], fixed: String) throws {
        let result = try Self.osmo(arguments)
        #expect(result.status == 2)
        #expect(result.stderr.contains("The command to run goes after `--`: \(fixed)\n"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    /// A mistyped flag of ours is not mistaken for a command.
    @Test func unknownFlagIsNotACommand() throws {
        let result = try Self.osmo(["pod", "run", "--stat", "--", "true"])
        #expect(result.status == 2)
        #expect(!result.stderr.contains("goes after"))
        #expect(result.stderr.contains("Did you mean '--stats'?"), "\(result.stderr)")
    }

    /// Every usage line names the command as typed from `osmo`, for every command with
    /// argument-parser flags, and the Go-flag roles name their program.
    @Test(arguments: [
        "init", "data", "data download", "data upload", "data list", "data delete", "data check",
        "pod", "pod run", "pod manifest", "service", "exec", "port-forward", "workflow",
        "workflow exec", "workflow port-forward",
    ])
    func usageLinesStartWithOsmo(command: String) throws {
        let words = command.split(separator: " ").map(String.init)
        let help = try Self.osmo(words + ["--help"])
        #expect(help.status == 0)
        let usage = help.stdout.lines.first { $0.hasPrefix("USAGE:") } ?? ""
        #expect(usage.hasPrefix("USAGE: osmo \(command)"), "\(help.stdout)")
        // The same in an error's usage.
        let wrong = try Self.osmo(words + ["--no-such-flag"])
        #expect(wrong.status == 2)
        #expect(wrong.stderr.contains("\nUsage: osmo \(command)"), "\(wrong.stderr)")
    }

    @Test(arguments: ["ctrl", "user"])
    func goFlagUsageNamesOsmo(role: String) throws {
        let result = try Self.osmo([role, "-h"])
        #expect(result.stderr.hasPrefix("Usage of osmo \(role):"))
    }

    /// `osmo exec` alone (and its siblings) print their own help, as `osmo` and `osmo data` do.
    @Test(arguments: [["exec"], ["port-forward"], ["workflow", "exec"], ["workflow", "port-forward"], ["data", "download"]])
    func commandWithNothingPrintsItsHelp(words: [String]) throws {
        let result = try Self.osmo(words)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("OVERVIEW: "), "\(result.stdout)")
        #expect(result.stdout.contains("USAGE: osmo \(words.joined(separator: " "))"))
        #expect(result.stderr.isEmpty)
    }

    /// On a machine without /osmo, `osmo init` alone says what it is for and creates nothing
    /// (it used to create /osmo and /osmo_binaries).
    @Test(.enabled(if: !FileSystem.exists("/osmo") && !FileSystem.exists("/osmo_binaries")))
    func initWithoutArgumentsOutsideAPodCreatesNothing() throws {
        let result = try Self.osmo(["init"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("this is the init container's command"), "\(result.stderr)")
        #expect(result.stderr.contains("This machine has no /osmo, so nothing was created."))
        #expect(result.stderr.contains("osmo pod run -- CMD"))
        #expect(!FileSystem.exists("/osmo") && !FileSystem.exists("/osmo_binaries"))
        // Given locations, it does its work anywhere.
        let scratch = Scratch()
        let given = try Shell.run(OsmoBinary.path, InitTests.arguments(scratch))
        #expect(given.status == 0, "\(given.stdout)\(given.stderr)")
    }

    // MARK: §8 shell completion

    /// Completion scripts come from the command definitions: the bash script completes roles,
    /// subcommands and flags (driven as bash's programmable completion calls it).
    @Test func bashCompletionCompletesRolesSubcommandsAndFlags() throws {
        let scratch = Scratch()
        let generated = try Self.osmo(["--generate-completion-script", "bash"])
        #expect(generated.status == 0)
        #expect(generated.stdout.contains("complete -o filenames -F _osmo osmo"))
        try scratch.write("osmo.bash", generated.stdout)
        let driver = """
            source '\(scratch.at("osmo.bash"))'
            complete_line() {
                COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
                read -ra COMP_WORDS <<< "$COMP_LINE"; [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
                _osmo osmo "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                echo "$1=>${COMPREPLY[*]}"
            }
            complete_line 'osmo da'
            complete_line 'osmo data d'
            complete_line 'osmo pod run --in'
            complete_line 'osmo workflow port-forward wf t --conn'
            """
        let result = try Shell.run("/bin/bash", ["-c", driver])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.lines
        #expect(lines.contains("osmo da=>data"), "\(result.stdout)")
        #expect(lines.contains("osmo data d=>download delete"), "\(result.stdout)")
        #expect(lines.contains("osmo pod run --in=>--input"), "\(result.stdout)")
        #expect(lines.contains("osmo workflow port-forward wf t --conn=>--connect-timeout"), "\(result.stdout)")
        let zsh = try Self.osmo(["--generate-completion-script", "zsh"])
        #expect(zsh.status == 0 && zsh.stdout.hasPrefix("#compdef osmo"))
        let unknown = try Self.osmo(["--generate-completion-script", "tcsh"])
        #expect(unknown.status == 2 && unknown.stderr.contains("Can't generate completion scripts for 'tcsh'"))
    }

    /// init installs the scripts where the wrapper's -cliAutoCompleteScriptPath points
    /// (`<user_bin>/osmo_cli/osmo/autocomplete.bash`), and a re-run leaves them alone.
    @Test func initInstallsTheCompletionScripts() throws {
        let scratch = Scratch()
        #expect(try Shell.run(OsmoBinary.path, InitTests.arguments(scratch)).status == 0)
        let bash = scratch.at("usr/bin/osmo_cli/osmo/autocomplete.bash")
        let generated = try Self.osmo(["--generate-completion-script", "bash"]).stdout
        #expect(try FileSystem.readText(bash) == String(generated.dropLast()))
        #expect(try FileSystem.readText(scratch.at("usr/bin/osmo_cli/osmo/autocomplete.zsh")).hasPrefix("#compdef osmo"))
        let before = FileSystem.status(bash)!
        #expect(try Shell.run(OsmoBinary.path, InitTests.arguments(scratch)).status == 0)
        #expect(FileSystem.status(bash)!.st_ino == before.st_ino)
        // The user container's flag default is exactly that path under /osmo/usr/bin.
        #expect(UserCommand.options(from: UserCommand.flags(program: "osmo_exec")).cliAutoCompleteScriptPath == "/osmo/usr/bin/osmo_cli/osmo/autocomplete.bash")
    }

    /// What the wrapper does with the script at start (the reference's setupCliAutoComplete).
    @Test func bashrcSourcesTheScriptOnce() throws {
        let scratch = Scratch()
        let script = scratch.at("osmo_cli/osmo/autocomplete.bash")
        #expect(BashStartup.sourceCompletion(script, home: scratch.path) == .skipped("Failed to read CLI auto complete file: \(script) does not exist"))
        try scratch.write("osmo_cli/osmo/autocomplete.bash", "complete -F _osmo osmo\n")
        try scratch.write(".bashrc", "export A=1")
        #expect(BashStartup.sourceCompletion(script, home: scratch.path) == .added(scratch.at(".bashrc")))
        #expect(BashStartup.sourceCompletion(script, home: scratch.path) == .alreadyPresent)
        #expect(try FileSystem.readText(scratch.at(".bashrc")) == "export A=1\nsource \(script) 2>/dev/null || true\n")
        #expect(BashStartup.sourceCompletion("", home: scratch.path) == .skipped("no completion script configured"))
        // A new home gets a .bashrc; bash then completes `osmo` in an interactive shell.
        let home = scratch.at("home")
        try FileSystem.makeDirectory(home, mode: 0o755)
        try FileSystem.writeAtomically(Array((try Self.osmo(["--generate-completion-script", "bash"])).stdout.utf8), to: script)
        #expect(BashStartup.sourceCompletion(script, home: home) == .added(Path.join(home, ".bashrc")))
        let interactive = try Shell.run("/bin/bash", ["-ic", "complete -p osmo"], environment: ["HOME=\(home)", "PATH=/usr/bin:/bin"])
        #expect(interactive.stdout.contains("complete -o filenames -F _osmo osmo"), "\(interactive.stdout) \(interactive.stderr)")
    }

    // MARK: §5 fail fast, say why

    /// A refused connection reaches the user at once, with the URL tried and where to look.
    @Test(arguments: [["exec", "wf", "t"], ["port-forward", "wf", "t", "--port", "0:80"]])
    func refusedServiceIsSaidAtOnce(command: [String]) throws {
        let port = try Listener.closedPort()
        let started = Clock.now
        let result = try Self.osmo(command + ["--service", "http://127.0.0.1:\(port)"] + (command[0] == "exec" ? ["--", "true"] : []))
        let took = Clock.now - started
        #expect(result.status == 1, "\(result.stderr)")
        #expect(took < 2, "took \(took) s")
        #expect(result.stderr.hasPrefix("osmo: cannot reach the OSMO service at http://127.0.0.1:\(port): nothing is listening at 127.0.0.1:\(port)."), "\(result.stderr)")
        #expect(result.stderr.contains("another `--service-port`?"))
    }

    @Test func unknownServiceHostIsSaidAtOnce() throws {
        let started = Clock.now
        let result = try Self.osmo(["exec", "wf", "t", "--service", "http://osmo-nowhere.invalid:8000", "--", "true"])
        #expect(Clock.now - started < 2)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("osmo: cannot reach the OSMO service at http://osmo-nowhere.invalid:8000: unknown host 'osmo-nowhere.invalid'"), "\(result.stderr)")
        #expect(result.stderr.contains("--service, else $OSMO_SERVICE_URL"))
    }

    /// A busy local port is said in words (no `bind(descriptor:…)`), before the service is asked.
    @Test(arguments: [false, true])
    func busyLocalPortIsSaidInWords(udp: Bool) throws {
        let busy = try Listener()
        let holder: Int32 = udp ? socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0) : -1
        defer { if holder >= 0 { close(holder) } }
        if udp {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(busy.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(bound == 0)
        }
        let service = try Listener.closedPort()
        let result = try Self.osmo(["port-forward", "wf", "t", "--port", "\(busy.port):80", "--service", "http://127.0.0.1:\(service)"] + (udp ? ["--udp"] : []))
        #expect(result.status == 1)
        #expect(result.stderr == "osmo: cannot listen on 127.0.0.1:\(busy.port) (\(udp ? "udp" : "tcp")): the local port \(busy.port) is already in use (by another program, or another osmo port-forward). Pick another local port: --port \(busy.port + 1):80, or --port 0:80 for any free one\n", "\(result.stderr)")
    }

    @Test func connectTimeoutMustBePositive() throws {
        let result = try Self.osmo(["workflow", "port-forward", "wf", "t", "--port", "1", "--connect-timeout", "0"])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("Error: --connect-timeout takes a positive number of seconds"), "\(result.stderr)")
    }

    // MARK: §8 port ranges and reconnection

    /// The reference's own cases (`src/cli/tests/test_workflow.py` PortSpecParsingTest,
    /// `test_cli.py` TestPortParse).
    @Test(arguments: [
        ("8000", [8000], [8000]),
        ("8000:2000", [8000], [2000]),
        ("8000:8000", [8000], [8000]),
        ("8000-8002", [8000, 8001, 8002], [8000, 8001, 8002]),
        ("8000-8002:9000-9002", [8000, 8001, 8002], [9000, 9001, 9002]),
        ("8000-8001:9000-9001,8015", [8000, 8001, 8015], [9000, 9001, 8015]),
        ("8000-8002:9000-9002,8005", [8000, 8001, 8002, 8005], [9000, 9001, 9002, 8005]),
        ("9000-9003", [9000, 9001, 9002, 9003], [9000, 9001, 9002, 9003]),
    ])
    func portSpecsParseAsTheReference(text: String, locals: [Int], remotes: [Int]) throws {
        let mappings = try PortForwardClient.Mapping.parse(text)
        #expect(mappings.map(\.local) == locals)
        #expect(mappings.map(\.remote) == remotes)
    }

    @Test(arguments: [
        ("8000-8010:9000-9001", "Invalid number of ports provided. Local port are 11 and remote ports are 2"),
        ("8000:8000:8000", "Invalid port format: 8000:8000:8000. Please use format <integer>:<integer> or <integer>."),
        ("80a0", "Invalid port format: 80a0. Please use format <integer>:<integer> or <integer>."),
        ("", "Invalid port format: . Please use format <integer>:<integer> or <integer>."),
        ("70000", "Invalid port value: 70000. Port value must be between 0 and 65535."),
        ("8000:70000", "Invalid port value: 70000. Port value must be between 0 and 65535."),
        ("9003-9000", "Invalid port value: 9003-9000. Port value must be between 0 and 65535."),
        ("9000-9000", "Invalid port value: 9000-9000. Port value must be between 0 and 65535."),
        ("8000-8002:9000", "Invalid port format: 8000-8002:9000. Please use format <integer>:<integer> or <integer>."),
    ])
    func badPortSpecsFailWithTheReferenceWords(text: String, message: String) throws {
        #expect(throws: OsmoError.self) { try PortForwardClient.Mapping.parse(text) }
        do {
            _ = try PortForwardClient.Mapping.parse(text)
        } catch let error as OsmoError {
            #expect(error.message == message)
        }
        let result = try Self.osmo(["port-forward", "wf", "t", "--port", text])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("Error: --port: \(message)\n"), "\(result.stderr)")
    }

    @Test func referenceBackoffIsTwoToTheRetryPlusUpToFive() {
        for retry in 0...7 {
            let delay = PortForwardClient.referenceBackoff(retry)
            let base = Double(1 << min(retry, 5))
            #expect(delay >= base && delay < base + 5, "retry \(retry): \(delay)")
        }
    }

    /// A range forwards each port (one control connection each); a connection to a port that
    /// nothing serves in the task is reported in this terminal, not only in the task log.
    @Test func rangeForwardsEachPortAndSaysWhenNothingListens() throws {
        let service = try ServiceProcess()
        let pod = try RouterTests.runningTask(service, "wf-range")
        defer { pod.terminate() }
        let base = try #require(Listener.freeRange(3))
        let remote = try Listener.closedPort()
        let forward = try BackgroundCommand(OsmoBinary.path, ["port-forward", "wf-range", "t", "--service", service.url,
                                                              "--port", "\(base)-\(base + 1):\(remote)-\(remote + 1),\(base + 2):\(remote)"])
        defer { forward.kill() }
        for (local, target) in [(base, remote), (base + 1, remote + 1), (base + 2, remote)] {
            #expect(forward.waitForLine(prefix: "Forwarding 127.0.0.1:\(local) -> wf-range/t:\(target) (tcp)") != nil, "\(forward.output)")
        }
        // Nothing listens on `remote` in the task: the local client is closed and told why here.
        let client = try Shell.run(Python.path, ["-c", """
            import socket; s = socket.create_connection(("127.0.0.1", \(base + 2)), timeout=30)
            s.sendall(b"hello"); print(repr(s.recv(10)))
            """])
        #expect(client.stdout.contains("b''"), "\(client.stdout) \(client.stderr)")
        let note = forward.waitForLine(prefix: "osmo: 127.0.0.1:\(base + 2) -> wf-range/t:\(remote) (tcp): the connection from 127.0.0.1:")
        #expect(note?.contains("ended with nothing from the task: is a server listening on port \(remote) in the task?") == true, "\(forward.output)")
    }

    /// The control connection cut (a proxy in front of the router drops everything): the forward
    /// says so, waits the reference's backoff, asks for a new session and carries data again on
    /// the same local port.
    @Test func cutControlConnectionReconnectsWithTheReferenceBackoff() throws {
        let scratch = Scratch()
        try scratch.write("target", "0")
        let (proxy, proxyPort) = try ServerScripts.start("cut_proxy.py", ["--target-file", scratch.at("target")], scratch: scratch)
        defer { proxy.signal(SIGKILL); _ = try? proxy.wait() }
        let service = try ServiceProcess(["--router-address", "http://127.0.0.1:\(proxyPort)"])
        try FileSystem.writeAtomically(Array("\(service.port)".utf8), to: scratch.at("target"))
        let (echo, echoPort) = try ServerScripts.start("peers.py", ["tcp-server"], scratch: scratch)
        defer { echo.signal(SIGKILL); _ = try? echo.wait() }
        let pod = try RouterTests.runningTask(service, "wf-cut", seconds: 120)
        defer { pod.terminate() }
        let forward = try BackgroundCommand(OsmoBinary.path, ["port-forward", "wf-cut", "t", "--service", service.url, "--port", "0:\(echoPort)"])
        defer { forward.kill() }
        let local = try #require(forward.waitForLine(prefix: "Forwarding 127.0.0.1:").flatMap { line in
            Int(line.split(separator: " ")[1].split(separator: ":")[1])
        })
        func roundTrip() throws -> Finished {
            try Shell.run(Python.path, [ServerScripts.path("peers.py"), "tcp-client", "--port", "\(local)", "--bytes", "1000000"])
        }
        let before = try roundTrip()
        #expect(before.stdout.hasPrefix("ok "), "\(before.stdout) \(before.stderr)")

        _ = proxy.signal(SIGUSR1)
        let wait = forward.waitForLine(prefix: "Reconnect to remote port \(echoPort) in ")
        #expect(wait != nil, "\(forward.output)")
        if let wait, let seconds = Int(wait.split(separator: " ")[6]) {
            #expect((1...5).contains(seconds), "\(wait)")  // 2^0 + U(0, 5), printed as int
        }
        #expect(forward.output.contains("osmo: 127.0.0.1:\(local) -> wf-cut/t:\(echoPort) (tcp): the "), "\(forward.output)")
        #expect(forward.waitForLine(prefix: "osmo: reconnected to the router: 127.0.0.1:\(local) -> wf-cut/t:\(echoPort) (tcp)", timeout: 30) != nil, "\(forward.output)")
        let after = try roundTrip()
        #expect(after.stdout.hasPrefix("ok "), "\(after.stdout) \(after.stderr) \(forward.output)")
    }
}

