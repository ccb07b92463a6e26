import FoundationEssentials
import Glibc
import OsmoCore
@testable import OsmoCtrl
import OsmoSystem
import Testing

/// ctrl's lines and frames as the reference ctrl sends them (issue 10 §4), derived from the
/// reference's `ctrl.go`, `input_output.go`, `data.go`, `user.go`, `common.go` and `metrics.go`
/// (HEAD; v6.1-rc6 and v6.2-rc12 send the same texts). The service and its UI read these: the
/// transfer phases' lines are DOWNLOAD / UPLOAD (only those, not OSMO_CTRL, refresh the task's
/// heartbeat), and connection chatter stays in ctrl's own output.
@Suite struct ReferenceLinesTests {
    struct Line: Equatable, CustomStringConvertible {
        var ioType: String
        var text: String
        var description: String { "\(ioType) \(text.debugDescription)" }
    }

    /// The reference's `tree -n -L 1 DIR` text (tree 2.x) for what the test put in each input.
    static func tree(_ directory: String, _ entries: [String], directories: Int, files: Int) -> String {
        var lines = [directory]
        for (index, name) in entries.enumerated() { lines.append((index == entries.count - 1 ? "└── " : "├── ") + name) }
        lines += ["", "\(directories) director\(directories == 1 ? "y" : "ies"), \(files) file\(files == 1 ? "" : "s")"]
        return lines.joined(separator: "\n")
    }

    @Test func ctrlSendsTheReferenceLinesWithTheirIOTypes() throws {
        let data = Scratch()
        try FileSystem.makeDirectory(data.at("in/sub"), mode: 0o755)
        try data.write("in/a.txt", "alpha\n")
        try data.write("in/sub/b.txt", "beta\n")
        try data.write("one.txt", "one\n")
        let service = try ServiceProcess()
        let pod = try PodProcess(service: service, workflow: "wf-lines", task: "t", options: [
            "--input", "url:0,file://\(data.at("in/")),", "--input", "task:1,file://\(data.at("one.txt")),",
            "--output", "task:file://\(data.at("out-task"))", "--output", "url:file://\(data.at("out-url")),",
            "--output", "kpi:file://\(data.at("out-kpi")),metrics.json", "--output", "kpi:file://\(data.at("out-kpi")),missing.json",
        ], command: ["sh", "-c", "echo '{}' > {{output}}/metrics.json; mkdir {{output}}/d; echo y > {{output}}/d/y; echo out-line; exit 3"])
        #expect(pod.wait(timeout: patience(90)) == 3, "\(pod.output)")
        let records = service.records("wf-lines", "t")
        // Progress lines stand in for the reference CLI's own output lines (also DOWNLOAD/UPLOAD).
        let lines = records.filter { !$0.Text.contains("%|") }.map { Line(ioType: $0.IOType, text: $0.Text) }
        let input = Path.join(pod.podDirectory, "data/input")
        let output = Path.join(pod.podDirectory, "data/output")
        let url = "file://\(data.at("out-url"))"
        let expected: [Line] = [
            Line(ioType: "OSMO_CTRL", text: "Validating data access permissions..."),
            Line(ioType: "OSMO_CTRL", text: "Validating READ access for URI input: file://\(data.at("in/"))"),
            Line(ioType: "OSMO_CTRL", text: "Data auth validation successful for file://\(data.at("in/"))"),
            Line(ioType: "OSMO_CTRL", text: "Validating WRITE access for URI output: \(url)"),
            Line(ioType: "OSMO_CTRL", text: "Data auth validation successful for \(url)"),
            Line(ioType: "OSMO_CTRL", text: "All data access validations passed"),
            Line(ioType: "DOWNLOAD", text: "Downloading Start"),
            // GetLogInfo: a url: input by its whole URL, a task: input by what follows the last `/`.
            Line(ioType: "DOWNLOAD", text: "Downloading file://\(data.at("in/"))"),
            Line(ioType: "DOWNLOAD", text: "Downloading one.txt"),
            // (the two inputs' results in either order: they download at once)
            Line(ioType: "DOWNLOAD", text: "Downloaded file://\(data.at("in/")) to {{input:0}}"),
            Line(ioType: "DOWNLOAD", text: Self.tree(Path.join(input, "0"), ["a.txt", "sub"], directories: 2, files: 1)),
            Line(ioType: "DOWNLOAD", text: "Downloaded one.txt to {{input:1}}"),
            Line(ioType: "DOWNLOAD", text: Self.tree(Path.join(input, "1"), ["one.txt"], directories: 1, files: 1)),
            Line(ioType: "DOWNLOAD", text: "All Inputs Gathered"),
            Line(ioType: "STDOUT", text: "out-line"),
            // user.go + common.go: ExecFailed's text, relayed as a stderr line.
            Line(ioType: "STDERR", text: "Command failed with error: exit status 3\n"),
            Line(ioType: "UPLOAD", text: "Upload Start"),
            Line(ioType: "UPLOAD", text: "Uploading out-task"),
            Line(ioType: "UPLOAD", text: "Uploaded out-task"),
            Line(ioType: "UPLOAD", text: "Uploading \(url)"),
            Line(ioType: "UPLOAD", text: "Uploaded \(url)"),
            Line(ioType: "UPLOAD", text: "Uploading KPI: metrics.json"),
            Line(ioType: "UPLOAD", text: "Uploaded KPI: metrics.json"),
            Line(ioType: "UPLOAD", text: "Uploading KPI: missing.json"),
            Line(ioType: "UPLOAD", text: "KPI file: \(output)/missing.json does not exist"),
            Line(ioType: "UPLOAD", text: "All Outputs Uploaded"),
        ]
        #expect(lines.sorted { $0.text < $1.text } == expected.sorted { $0.text < $1.text }, "got:\n\(lines.map(\.description).joined(separator: "\n"))")
        // Order, except between the two inputs' results.
        let anchors = ["All data access validations passed", "Downloading Start", "Downloading one.txt", "All Inputs Gathered", "out-line",
                       "Upload Start", "Uploaded out-task", "Uploaded \(url)", "Uploaded KPI: metrics.json", "All Outputs Uploaded"]
        let positions = anchors.map { anchor in lines.firstIndex { $0.text == anchor } ?? -1 }
        #expect(positions == positions.sorted() && !positions.contains(-1), "\(zip(anchors, positions).map { "\($0.1) \($0.0)" })")
        // Ours, not the reference's: in ctrl's own output only.
        for local in ["Client connected [unix]", "Connected to the service"] {
            #expect(!records.contains { $0.Text == local }, "\(local) was sent to the service")
            #expect(pod.output.contains(local), "\(local) missing from ctrl's output")
        }
        #expect(!records.contains { $0.Text.hasPrefix("Moved ") })

        // metrics.go: retry_id a string; both group metrics; task_io_metrics per transfer that
        // moved bytes, a kpi output's url naming the file.
        let metrics = service.metrics("wf-lines").split(separator: "\n").map(String.init)
        for type in ["input_download", "output_upload"] {
            #expect(metrics.contains { $0.contains("\"type_of_metrics\":\"\(type)\"") && $0.contains("\"retry_id\":\"0\"") }, "\(metrics)")
        }
        let io = metrics.filter { $0.contains("\"MetricType\":\"task_io_metrics\"") || $0.contains("\"operation_type\"") }
        #expect(io.count == 5, "\(io)")
        #expect(io.contains { $0.contains("\"url\":\"file://\(data.at("out-kpi"))/metrics.json\"") }, "\(io)")
        #expect(io.allSatisfy { $0.contains("\"retry_id\":\"0\"") && !$0.contains("\"size_in_bytes\":0,") })
    }

    /// With nothing to move the phase lines still come, as the reference sends them.
    @Test func phaseLinesComeWithNoInputsAndNoOutputs() throws {
        let service = try ServiceProcess()
        let pod = try PodProcess(service: service, workflow: "wf-empty", task: "t", command: ["true"])
        #expect(pod.wait(timeout: patience(60)) == 0, "\(pod.output)")
        let lines = service.records("wf-empty", "t").map { Line(ioType: $0.IOType, text: $0.Text) }
        #expect(lines == [
            Line(ioType: "OSMO_CTRL", text: "Validating data access permissions..."),
            Line(ioType: "OSMO_CTRL", text: "All data access validations passed"),
            Line(ioType: "DOWNLOAD", text: "Downloading Start"),
            Line(ioType: "DOWNLOAD", text: "All Inputs Gathered"),
            Line(ioType: "UPLOAD", text: "Upload Start"),
            Line(ioType: "UPLOAD", text: "No Files in Output Folder"),
        ], "\(lines)")
        let metrics = service.metrics("wf-empty")
        #expect(metrics.contains("input_download") && metrics.contains("output_upload"), "\(metrics)")
    }

    /// `PrintDirContents`: `tree -n -L 1` cut to its first 20 lines and its summary. Compared with
    /// the real tree when the machine has it (scripts/setup.sh installs it).
    @Test(arguments: [0, 1, 3, 19, 30])
    func listingIsTreeOutput(entries: Int) throws {
        let scratch = Scratch()
        let root = scratch.at("root")
        try FileSystem.makeDirectory(root, mode: 0o755)
        for index in 0..<entries {
            if index % 3 == 0 {
                try FileSystem.makeDirectory(Path.join(root, "dir\(index)"), mode: 0o755)
            } else {
                try scratch.write("root/file \(index).txt", "x")
            }
        }
        try scratch.write("root/.hidden", "h")
        if entries > 2 { #expect(symlink("dir0", Path.join(root, "link")) == 0) }
        let ours = Controller.tree(root)
        if let tree = ExecutableLocation.search("tree", path: "/usr/bin:/bin") {
            // The reference runs it in its distroless Python image, whose LANG is C.UTF-8.
            let result = try Shell.run(tree, ["-n", "-L", "1", root], environment: ["LC_ALL=C.UTF-8"])
            var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            while lines.last == "" { lines.removeLast() }
            let reference = lines.count <= 20 ? lines : Array(lines.prefix(20)) + [lines.last!]
            #expect(ours == reference.joined(separator: "\n"))
        }
        let summary = ours.split(separator: "\n").last.map(String.init) ?? ""
        let dirs = (entries + 2) / 3 + (entries > 2 ? 1 : 0)
        let files = entries - (entries + 2) / 3
        let counted = entries == 0 ? 0 : dirs + 1
        #expect(summary == "\(counted) director\(counted == 1 ? "y" : "ies"), \(files) file\(files == 1 ? "" : "s")", "\(ours)")
    }

    /// `ctrl_args.go`: ExecStart's `OutputFolder` is `-outputPath` with a `/` appended.
    @Test func execStartOutputFolderEndsInASlash() throws {
        let scratch = Scratch()
        for dir in ["input", "output", "socket"] { try FileSystem.makeDirectory(scratch.at(dir), mode: 0o755) }
        let log = open(scratch.at("ctrl.out"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let ctrl = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo_ctrl", "-socketPath", scratch.at("socket/data.sock"), "-inputPath", scratch.at("input/"), "-outputPath", scratch.at("output"),
                        "-logSource", "t", "-userConfig", "/nonexistent", "-serviceConfig", "/nonexistent"],
            environment: ChildProcess.currentEnvironment + ["OSMO_TERMINATION_LOG=\(scratch.at("termination-log"))"], stdout: log, stderr: log)
        close(log)
        let deadline = Clock.now + patience(10)
        var socket: UnixSocket?
        while socket == nil && Clock.now < deadline {
            socket = try? UnixSocket.connect(to: scratch.at("socket/data.sock"))
            if socket == nil { usleep(10_000) }
        }
        let connected = try #require(socket)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains(10) {
            let n = try buffer.withUnsafeMutableBytes { try connected.read(into: $0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        let execStart = String(decoding: received, as: UTF8.self)
        #expect(execStart.hasPrefix("{\"Type\":\"ExecStart\"") && execStart.contains("\"OutputFolder\":\"\(scratch.at("output"))/\""), "\(execStart)")
        try connected.write(Array(#"{"Type":"ExecFinished","MessageOut":"","MessageErr":"","MessageOps":"","OutputFolder":"","RouterAddress":"","Command":"","TaskPort":0,"RsyncRunning":false}"#.utf8) + [10])
        #expect(try ctrl.wait().exitStatus == 0, "\(text(of: scratch.at("ctrl.out")))")
    }

    /// Issue 10 §8: archives are extracted by default; `-keepArchives` (or `OSMO_KEEP_ARCHIVES`
    /// in the pod template) keeps them as files, for all inputs or the folders named.
    @Test(arguments: [
        (flag: nil as String?, environment: nil as String?, kept: [false, false]),
        (flag: "0", environment: nil, kept: [true, false]),
        (flag: nil, environment: "all", kept: [true, true]),
        (flag: "1", environment: "all", kept: [false, true]),
    ])
    func archivesCanBeKeptAsFiles(flag: String?, environment: String?, kept: [Bool]) throws {
        let scratch = Scratch()
        let example = Path.join(BundleTests.packageRoot, "examples/sensors.tar.gz")
        var arguments = ["pod", "run", "--pod-dir", scratch.at("pod"), "--no-service", "--input", "file://\(example)", "--input", "file://\(example)"]
        if let flag { arguments += ["--ctrl-arg", "-keepArchives", "--ctrl-arg", flag] }
        arguments += ["--", "true"]
        var env = ChildProcess.currentEnvironment.filter { !$0.hasPrefix("OSMO_KEEP_ARCHIVES=") }
        if let environment { env.append("OSMO_KEEP_ARCHIVES=\(environment)") }
        let result = try Shell.run(OsmoBinary.path, arguments, environment: env)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        for (folder, keep) in kept.enumerated() {
            let input = scratch.at("pod/data/input/\(folder)")
            #expect(FileSystem.exists(Path.join(input, "sensors.tar.gz")) == keep, "input \(folder): \((try? FileSystem.contents(of: input)) ?? [])")
            #expect(FileSystem.isDirectory(Path.join(input, "sensors")) == !keep)
        }
    }
}

