import FoundationEssentials
import Glibc
import OsmoCore
import OsmoProtocol
import OsmoSystem
import Testing

/// The task lifecycle end to end: `osmo pod run` (init, ctrl and the wrapper as real processes
/// sharing a pod directory), and ctrl against a misbehaving wrapper.
@Suite(.serialized)
struct PodTests {
    struct Record: Decodable {
        var Source: String
        var Time: String
        var Text: String
        var IOType: String
    }

    /// `osmo pod run --pod-dir <scratch>/pod … -- command`.
    func pod(_ scratch: Scratch, _ arguments: [String], _ command: [String]) throws -> Finished {
        try Shell.run(OsmoBinary.path, ["pod", "run", "--pod-dir", scratch.at("pod")] + arguments + ["--"] + command)
    }

    func records(_ scratch: Scratch) throws -> [Record] {
        let text = try FileSystem.readText(scratch.at("pod/task-log.jsonl"))
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
    }

    @Test func mainJobDownloadsRunsAndUploads() throws {
        let scratch = Scratch()
        let example = Path.join(BundleTests.packageRoot, "examples/sensors.tar.gz")
        let result = try pod(scratch, ["--input", "file://\(example)", "--output", scratch.at("out")],
                             ["/bin/sh", "-c", "cat {{input:0}}/sensors/*.csv | wc -l > {{output}}/lines.txt"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileSystem.readText(scratch.at("out/lines.txt")).trimmingSpaces() == "1202")
        for line in ["Downloaded sensors.tar.gz to {{input:0}}", "└── sensors", "All Inputs Gathered", "Uploaded out", "All Outputs Uploaded"] {
            #expect(result.stdout.contains(line), "\(line)")
        }
        let log = try records(scratch)
        #expect(log.allSatisfy { $0.Source == "task" && $0.Time.hasSuffix("Z") })
    }

    @Test func twoHundredThousandLinesPerStreamArriveInOrder() throws {
        let scratch = Scratch()
        let script = "i=0; while [ $i -lt 200000 ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done"
        let result = try pod(scratch, [], ["/bin/sh", "-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        let log = try records(scratch)
        let out = log.filter { $0.IOType == "STDOUT" }.map(\.Text)
        let err = log.filter { $0.IOType == "STDERR" }.map(\.Text)
        #expect(out.count == 200_000)
        #expect(err.count == 200_000)
        #expect(out == (0..<200_000).map { "out \($0)" })
        #expect(err == (0..<200_000).map { "err \($0)" })
    }

    /// ctrl uploads the contents of `{{output}}` keeping its tree (`<outputPath>*`, as the
    /// reference), and reads nothing outside it: a symlink that leads out is skipped with a log
    /// line, a symlinked directory is not descended, a symlink that stays inside is uploaded.
    @Test func outputsKeepTheirTreeAndNeverLeak() throws {
        let scratch = Scratch()
        try scratch.write("secret/shadow", "secret\n")
        try scratch.write("secret/dir/inner.txt", "inner\n")
        let script = """
            mkdir -p {{output}}/a {{output}}/b && echo A > {{output}}/a/x.txt && echo B > {{output}}/b/x.txt && \
            ln -s \(scratch.at("secret/shadow")) {{output}}/leak && ln -s ../../../../secret/shadow {{output}}/a/relative-leak && \
            ln -s \(scratch.at("secret/dir")) {{output}}/dirlink && ln -s a/x.txt {{output}}/inside && ln -s a {{output}}/adir
            """
        let result = try pod(scratch, ["--output", scratch.at("out")], ["/bin/sh", "-c", script])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(text(of: scratch.at("out/a/x.txt")) == "A\n")
        #expect(text(of: scratch.at("out/b/x.txt")) == "B\n")
        #expect(text(of: scratch.at("out/inside")) == "A\n")
        for leaked in ["out/leak", "out/a/relative-leak", "out/dirlink", "out/inner.txt", "out/dirlink/inner.txt", "out/adir"] {
            #expect(!FileSystem.exists(scratch.at(leaked)), "\(leaked)")
        }
        #expect(result.stdout.contains("leak: skipped, a symlink that leads outside"), "\(result.stdout)")
        #expect(result.stdout.contains("dirlink: skipped, a symlink that leads outside"), "\(result.stdout)")
        #expect(result.stdout.contains("adir: skipped, a symlink to a directory"), "\(result.stdout)")
    }

    @Test func failingCommandStillUploads() throws {
        let scratch = Scratch()
        let result = try pod(scratch, ["--output", scratch.at("out")], ["/bin/sh", "-c", "echo partial > {{output}}/p.txt; exit 3"])
        #expect(result.status == 3)
        #expect(result.stdout.contains("[task] Command failed with error: exit status 3"))
        #expect(FileSystem.exists(scratch.at("out/p.txt")))
    }

    @Test func killedCommandIs137AndMissingCommandIs127() throws {
        let scratch = Scratch()
        #expect(try pod(scratch, [], ["/bin/sh", "-c", "kill -9 $$"]).status == 137)
        let missing = try Shell.run(OsmoBinary.path, ["pod", "run", "--", "no-such-command-osmo"])
        #expect(missing.status == 127)
        #expect(missing.stdout.contains("[task] Command failed with error: exec: \"no-such-command-osmo\": executable file not found in $PATH"), "\(missing.stdout)")
    }

    /// Issue 12 §4: a ctrl that fails before the command starts still accepts the wrapper and
    /// sends CtrlFailed, so the pod ends at once with ctrl's code instead of the user container
    /// waiting two hours for an ExecStart; the user's command never runs.
    @Test(arguments: [
        (arguments: ["--input", "url:0,bad"], code: Int32(30), says: "invalid spec 'url:0,bad'"),
        (arguments: ["--ctrl-arg", "-inputPath", "--ctrl-arg", ""], code: 30, says: "-inputPath is required"),
        (arguments: ["--ctrl-arg", "-noSuchFlag"], code: 2, says: "noSuchFlag"),
        (arguments: ["--ctrl-arg", "-unixTimeout", "--ctrl-arg", "soon"], code: 2, says: "soon"),
        (arguments: ["--input", "url:0,s3://bucket/x,", "--ctrl-arg", "-userConfig", "--ctrl-arg", "/nonexistent/user.yaml"], code: 30, says: "/nonexistent/user.yaml"),
    ])
    func earlyCtrlFailureEndsThePodWithCtrlsCode(arguments: [String], code: Int32, says: String) throws {
        let scratch = Scratch()
        let marker = scratch.at("ran")
        let pod = try PodProcess(podArguments: ["--no-service"] + arguments, command: ["touch", marker])
        #expect(pod.wait(timeout: patience(60)) == code, "\(pod.output)")
        #expect(pod.output.contains(says), "\(pod.output)")
        #expect(!FileSystem.exists(marker), "the command ran")
    }

    @Test func failedDownloadFailsThePodWith10() throws {
        let scratch = Scratch()
        let result = try pod(scratch, ["--input", scratch.at("missing.tar")], ["/bin/echo", "never"])
        #expect(result.status == 10, "\(result.stdout) \(result.stderr)")
        #expect(!result.stdout.contains("never"))
        #expect(try FileSystem.readText(scratch.at("pod/ctrl.termination-log")) == "{\"code\":10}")
    }

    /// A second Ctrl-C kills the whole pod, the command's own process group included (its
    /// wrapper dies first and it is orphaned): nothing the task started survives `pod run`.
    @Test func secondInterruptKillsTheCommandsProcessGroup() throws {
        let scratch = Scratch()
        let marker = "osmo-orphan-\(getpid())-\(Int(Clock.now * 1000) % 1_000_000)"
        let child = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo", "pod", "run", "--pod-dir", scratch.at("pod"), "--",
                        "/bin/sh", "-c", "trap '' TERM INT; /bin/sh -c \"trap '' TERM INT; sleep 3000; : \(marker)\" & echo started; wait"],
            environment: ChildProcess.currentEnvironment, stdout: -1, stderr: -1)
        let deadline = Clock.now + patience(20)
        while Clock.now < deadline && !text(of: scratch.at("pod/task-log.jsonl")).contains("\"Text\":\"started\"") { usleep(20_000) }
        #expect(running(marker), "the test's own command did not start")
        child.signal(SIGINT)
        usleep(200_000)
        child.signal(SIGINT)
        _ = try child.wait()
        #expect(!running(marker), "the command's process group outlived pod run")
    }

    /// True when a process whose command line holds `marker` exists.
    func running(_ marker: String) -> Bool {
        ((try? FileSystem.contents(of: "/proc")) ?? []).contains { name in
            guard Int(name) != nil, let bytes = try? FileSystem.readFile("/proc/\(name)/cmdline") else { return false }
            return String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(marker)
        }
    }

    @Test func sigtermStopsTheCommandAndStillUploads() throws {
        let scratch = Scratch()
        let child = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo", "pod", "run", "--pod-dir", scratch.at("pod"), "--output", scratch.at("out"), "--",
                        "/bin/sh", "-c", "trap 'echo got-term > {{output}}/term.txt; exit 143' TERM; echo started; while true; do sleep 0.05; done"],
            environment: ChildProcess.currentEnvironment, stdout: -1, stderr: -1)
        let deadline = Clock.now + 20
        while Clock.now < deadline {
            let log = text(of: scratch.at("pod/task-log.jsonl"))
            if log.contains("\"Text\":\"started\"") { break }
            usleep(20_000)
        }
        child.signal(SIGTERM)
        let status = try child.wait().exitStatus
        #expect(status == 143)
        #expect(text(of: scratch.at("out/term.txt")) == "got-term\n")
        let log = try records(scratch)
        #expect(log.contains { $0.Text == "All Outputs Uploaded" })
    }

    @Test func checkpointsArePeriodicAndFinalAndAFailingOneDoesNotKillTheTask() throws {
        let scratch = Scratch()
        let result = try pod(scratch, ["--checkpoint", "{{output}};\(scratch.at("ckpt"));1;", "--checkpoint", "{{output}};file:///proc/osmo-forbidden;1;"],
                             ["/bin/sh", "-c", "for i in 1 2 3; do echo $i > {{output}}/f$i.txt; sleep 0.8; done"])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("checkpoint 1: uploaded"), "\(result.stdout)")
        #expect(result.stdout.contains("final checkpoint: uploaded 3 files"), "\(result.stdout)")
        #expect(result.stdout.contains("checkpoint 1 of \(scratch.at("pod/data/output")) to file:///proc/osmo-forbidden failed"))
        // The reference's lines around each upload (`data.go`).
        let output = scratch.at("pod/data/output")
        #expect(result.stdout.contains("Checkpointing data from \(output) to \(scratch.at("ckpt"))..."))
        #expect(result.stdout.contains("Checkpointing data from \(output) to \(scratch.at("ckpt")) finished"))
        // A checkpoint keeps basename(path), as the reference's `upload <url> <path>` does.
        #expect(try FileSystem.contents(of: scratch.at("ckpt/output")).sorted() == ["f1.txt", "f2.txt", "f3.txt"])
    }

    @Test func manifestArgumentsAreExactlyWhatPodRunExecutes() throws {
        let scratch = Scratch()
        let task = ["--input", "file:///data/set.tar", "--input", "1,/no/such/prefix,.*\\.csv", "--output", "s3://bucket/out",
                    "--env", "A=1", "--task", "train"]
        let command = ["python3", "-c", "print('{{input:1}}', '{{output}}')"]
        let run = try Shell.run(OsmoBinary.path, ["pod", "run", "--pod-dir", scratch.at("pod")] + task + ["--", "/bin/true"])
        _ = run // the inputs cannot be fetched here; the argv is recorded before anything runs
        let manifest = try Shell.run(OsmoBinary.path, ["pod", "manifest", "--local-layout", scratch.at("pod")] + task + ["--"] + command)
        #expect(manifest.status == 0, "\(manifest.stderr)")
        let json = try Shell.run("/usr/bin/env", ["python3", "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"], stdin: manifest.stdout)
        struct Pod: Decodable {
            struct Spec: Decodable { var initContainers: [C]; var containers: [C] }
            struct C: Decodable { var name: String; var command: [String]; var args: [String] }
            var spec: Spec
        }
        let pod = try JSONDecoder().decode(Pod.self, from: Data(json.stdout.utf8))
        func recorded(_ name: String) throws -> [String] {
            try FileSystem.readText(scratch.at("pod/argv/\(name)")).split(separator: "\n").map(String.init)
        }
        #expect(pod.spec.initContainers[0].args == (try recorded("init")))
        let ctrl = pod.spec.containers.first { $0.name == "osmo-ctrl" }!
        // pod run adds its log file and the embedded service's address and token (in a cluster,
        // the OSMO service adds its own).
        let executed = try recorded("ctrl")
        #expect(Array(executed.prefix(ctrl.args.count + 2)) == ctrl.args + ["-logFile", scratch.at("pod/task-log.jsonl")])
        #expect(Array(executed.dropFirst(ctrl.args.count + 2).prefix(2)) == ["-host", "127.0.0.1"])
        #expect(executed.last == scratch.at("pod/refresh_token"))
        #expect(ctrl.args.contains("task:1,/no/such/prefix,.*\\.csv"))
        let user = pod.spec.containers.first { $0.name == "train" }!
        #expect(user.args.suffix(6) == ["-commands", "python3", "-args", "-c", "-args", "print('\(scratch.at("pod/data/input/1"))', '\(scratch.at("pod/data/output"))')"])

        // The cluster rendering uses the service's paths and the reference's flags.
        let cluster = try Shell.run(OsmoBinary.path, ["pod", "manifest"] + task + ["--"] + command)
        #expect(cluster.stdout.contains("\"-inputPath\"\n        - \"/osmo/data/input/\""))
        #expect(cluster.stdout.contains("print('/osmo/data/input/1', '/osmo/data/output')"))
    }
}

/// ctrl against a wrapper that crashes or talks nonsense.
@Suite(.serialized)
struct CtrlTests {
    struct Ctrl {
        let scratch = Scratch()
        let child: ChildProcess
        let stdout: Int32

        init(outputs: [String] = []) throws {
            for dir in ["data/input", "data/output", "data/socket"] { try FileSystem.makeDirectory(scratch.at(dir), mode: 0o755) }
            var arguments = ["osmo_ctrl", "-socketPath", scratch.at("data/socket/data.sock"), "-inputPath", scratch.at("data/input/"),
                             "-outputPath", scratch.at("data/output/"), "-logSource", "t", "-userConfig", "/nonexistent", "-serviceConfig", "/nonexistent"]
            for output in outputs { arguments += ["-outputs", output] }
            let log = open(scratch.at("ctrl.out"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            stdout = log
            child = try ChildProcess.spawn(
                executable: OsmoBinary.path, arguments: arguments,
                environment: ChildProcess.currentEnvironment + ["OSMO_TERMINATION_LOG=\(scratch.at("termination-log"))"],
                stdout: log, stderr: log)
            close(log)
        }

        var socketPath: String { scratch.at("data/socket/data.sock") }
        var output: String { text(of: scratch.at("ctrl.out")) }
        var termination: String { text(of: scratch.at("termination-log")) }

        func connect() throws -> UnixSocket {
            let deadline = Clock.now + 10
            while true {
                if let socket = try? UnixSocket.connect(to: socketPath) { return socket }
                if Clock.now > deadline { throw OsmoError(.io, "ctrl did not listen") }
                usleep(10_000)
            }
        }
    }

    @Test func hostileWrapperIsReportedAndNeverCrashesCtrl() throws {
        let ctrl = try Ctrl(outputs: ["task:\(Scratch().path)"])
        let socket = try ctrl.connect()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
        #expect(String(decoding: buffer[0..<n], as: UTF8.self).hasPrefix("{\"Type\":\"ExecStart\""))
        try socket.write(Array("this is not json\n".utf8))
        var huge = Array(#"{"Type":"MessageOut","MessageOut":""#.utf8)
        huge += [UInt8](repeating: UInt8(ascii: "x"), count: 100 << 20)
        huge += Array("\"}\n".utf8)
        try socket.write(huge)
        // The reference's exact bytes for one line, then half a message and a hang-up.
        try socket.write(Array(#"{"Type":"MessageOut","MessageOut":"still here","MessageErr":"","MessageOps":"","OutputFolder":"","RouterAddress":"","Command":"","TaskPort":0,"RsyncRunning":false}"#.utf8) + [10])
        try socket.write(Array(#"{"Type":"MessageOut","Messa"#.utf8))
        socket.close()
        let status = try ctrl.child.wait().exitStatus
        #expect(status == 23)
        #expect(ctrl.termination == "{\"code\":23}")
        let output = ctrl.output
        for line in ["ignoring 17 bytes of garbage", "ignoring an oversize message", "[t] still here", "bytes of an unfinished message", "closed the connection without reporting"] {
            #expect(output.contains(line), "\(line) missing from: \(output.prefix(2000))")
        }
        #expect(output.contains("No Files in Output Folder"))
    }

    @Test func wrapperKilledMidRunStillUploads() throws {
        let destination = Scratch()
        let ctrl = try Ctrl(outputs: ["task:\(destination.path)"])
        let wrapper = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo_exec", "-socketPath", ctrl.socketPath, "-commands", "/bin/sh", "-args", "-c",
                        "-args", "echo data > \(ctrl.scratch.at("data/output/result.txt")); echo ready; sleep 30"],
            environment: ChildProcess.currentEnvironment, stdout: -1, stderr: -1)
        let deadline = Clock.now + 20
        while !ctrl.output.contains("[t] ready") && Clock.now < deadline { usleep(20_000) }
        wrapper.signal(SIGKILL)
        _ = try wrapper.wait()
        #expect(try ctrl.child.wait().exitStatus == 23)
        #expect(FileSystem.exists(destination.at("result.txt")))
        #expect(ctrl.output.contains("All Outputs Uploaded"))
    }

    @Test func ctrlKilledStopsTheCommandAndTheWrapperFails() throws {
        let ctrl = try Ctrl()
        let marker = ctrl.scratch.at("still-running")
        let wrapper = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo_exec", "-socketPath", ctrl.socketPath, "-commands", "/bin/sh", "-args", "-c",
                        "-args", "echo ready; sleep 2; touch \(marker)"],
            environment: ChildProcess.currentEnvironment, stdout: -1, stderr: -1)
        let deadline = Clock.now + 20
        while !ctrl.output.contains("[t] ready") && Clock.now < deadline { usleep(20_000) }
        ctrl.child.signal(SIGKILL)
        _ = try ctrl.child.wait()
        #expect(try wrapper.wait().exitStatus == 69)
        usleep(2_500_000)
        #expect(!FileSystem.exists(marker))
    }
}
