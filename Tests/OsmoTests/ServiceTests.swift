import FoundationEssentials
import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// ctrl ↔ service through the built binary: `osmo service` as the service, `osmo pod run` as the
/// task, real websockets on 127.0.0.1.
@Suite struct ServiceTests {
    static func stdout(_ lines: [StoredLine]) -> [String] { lines.filter { $0.IOType == "STDOUT" }.map(\.Text) }

    @Test func hundredThousandLinesArriveInOrderWithNoneLost() throws {
        let service = try ServiceProcess()
        let pod = try PodProcess(service: service, workflow: "wf-lines", task: "t", command: ["seq", "1", "100000"])
        #expect(pod.wait(timeout: 120) == 0, "\(pod.output)")
        let lines = Self.stdout(service.records("wf-lines", "t"))
        #expect(lines.count == 100_000)
        #expect(lines.elementsEqual((1...100_000).lazy.map(String.init)), "first difference at \(zip(lines, 1...).first { $0.0 != String($0.1) }.map { "\($0.1)" } ?? "the end")")
        // Timestamps are taken when a line is produced, and follow production order.
        let times = service.records("wf-lines", "t").filter { $0.IOType == "STDOUT" }.map(\.seconds)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 + 1e-6 })
    }

    /// The service disappears for 30 s mid-run and comes back on the same port: every line
    /// arrives once, in order, stamped when it was produced; the restarted service issued a new
    /// token.
    @Test func serviceOutageOfThirtySecondsLosesNothing() throws {
        let service = try ServiceProcess()
        let script = "i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo line $i; sleep 0.05; done"
        let pod = try PodProcess(service: service, workflow: "wf-outage", task: "t", command: ["sh", "-c", script])
        #expect(service.waitFor("wf-outage", "t") { Self.stdout($0).count >= 20 })
        service.kill()
        let away = Clock.wall
        sleep(30)
        try service.start()
        #expect(pod.wait(timeout: 120) == 0, "\(pod.output)")
        let records = service.records("wf-outage", "t")
        let lines = Self.stdout(records)
        #expect(lines == (1...600).map { "line \($0)" })
        // The reference's line to the service; ours, with the count of buffered lines, locally.
        #expect(records.contains { $0.Text.hasPrefix("Websocket Connection: ") })
        #expect(pod.output.contains("Reconnected to the service"))
        // Lines produced while the service was away carry their production time.
        let awayStart = Double(away.seconds % 86400)
        let during = records.filter { $0.IOType == "STDOUT" && $0.seconds > awayStart + 5 && $0.seconds < awayStart + 25 }
        #expect(during.count > 100)
    }

    /// With a 50-line buffer and the service away, the oldest lines are dropped, and the warning
    /// says exactly how many: what arrived plus the count equals what ctrl logged.
    @Test func droppedLinesAreCountedExactly() throws {
        let service = try ServiceProcess()
        let pod = try PodProcess(
            service: service, workflow: "wf-drop", task: "t", options: ["--ctrl-arg", "-logsBufferSize", "--ctrl-arg", "50"],
            command: ["sh", "-c", "echo first; sleep 2; seq 1 400; sleep 6; echo last"])
        #expect(service.waitFor("wf-drop", "t") { Self.stdout($0).contains("first") })
        service.kill()
        sleep(4)
        try service.start()
        #expect(pod.wait(timeout: 120) == 0, "\(pod.output)")
        let records = service.records("wf-drop", "t")
        let warnings = records.filter { $0.Text.hasPrefix("WARNING: Maximum logging rate exceeded") }
        #expect(warnings.count == 1)
        let dropped = warnings.first.flatMap { Int($0.Text.split(separator: " ")[5]) } ?? 0
        let produced = pod.taskLog.count
        #expect(dropped > 300)
        #expect(records.count - warnings.count + dropped == produced, "received \(records.count - warnings.count), dropped \(dropped), produced \(produced)")
        #expect(Self.stdout(records).last == "last")
    }

    /// Tokens live 2 s: ctrl refreshes before dialing (an exec 4 s in works), and the first two
    /// refreshes are answered PENDING, which ctrl waits out.
    @Test func tokenExpiryAndPendingTask() throws {
        let service = try ServiceProcess(["--token-seconds", "2", "--pending-refreshes", "2"])
        let pod = try PodProcess(service: service, workflow: "wf-token", task: "t", command: ["sh", "-c", "echo begin; sleep 12; echo end"])
        #expect(service.waitFor("wf-token", "t") { Self.stdout($0).contains("begin") })
        sleep(4)
        let exec = try Shell.run(OsmoBinary.path, ["exec", "wf-token", "t", "--service", service.url, "--", "echo", "exec ok"], stdin: "")
        #expect(exec.status == 0, "\(exec.stderr)")
        #expect(exec.stdout.contains("exec ok"))
        #expect(pod.wait(timeout: 60) == 0, "\(pod.output)")
        let stats = try service.get("/api/local/stats")
        let issued = Int(stats.split(separator: ",").first { $0.contains("tokens_issued") }?.split(separator: ":").last ?? "") ?? 0
        #expect(issued >= 2, "\(stats)")
        #expect(pod.output.contains("Waiting for task status to update to RUNNING."))
    }

    /// Three tasks of one group meet at a barrier: none starts its command before the last one
    /// arrived (it starts 2 s later).
    @Test func barrierAcrossThreeTasks() throws {
        let service = try ServiceProcess(["--group", "g=3"])
        var pods: [PodProcess] = []
        for index in 1...3 {
            if index == 3 { sleep(2) }
            pods.append(try PodProcess(service: service, workflow: "wf-barrier", task: "t\(index)", options: ["--group", "g", "--barrier", "b"], command: ["echo", "started"]))
        }
        for pod in pods { #expect(pod.wait(timeout: 60) == 0, "\(pod.output)") }
        let lastArrival = service.records("wf-barrier", "t3").first { $0.Text == "Waiting for group ready ..." }?.seconds ?? .infinity
        for index in 1...3 {
            let records = service.records("wf-barrier", "t\(index)")
            let started = records.first { $0.Text == "started" }
            #expect(started != nil)
            #expect((started?.seconds ?? 0) >= lastArrival, "t\(index) started before t3 reached the barrier")
            #expect(records.contains { $0.Text == "Group ready" })
        }
    }

    /// The restart action: the command is stopped and started again.
    @Test func restartRunsTheCommandAgain() throws {
        let service = try ServiceProcess()
        let pod = try PodProcess(service: service, workflow: "wf-restart", task: "t", command: ["sh", "-c", "echo run; sleep 3; echo finished"])
        #expect(service.waitFor("wf-restart", "t") { Self.stdout($0).contains("run") })
        _ = try service.post("/api/workflow/wf-restart/restart/task/t")
        #expect(pod.wait(timeout: 60) == 0, "\(pod.output)")
        let records = service.records("wf-restart", "t")
        #expect(Self.stdout(records) == ["run", "run", "finished"])
        #expect(records.contains { $0.Text == "Receive restart action" })
        #expect(pod.output.contains("Restarted the command"))
    }

    /// A service that never answers: after the `-timeout` budget (1 minute) ctrl gives up with
    /// code 21 in its termination log; the wrapper then stops the command.
    @Test func unreachableServiceEndsWithCode21() throws {
        let service = try ServiceProcess()
        service.kill()
        let started = Clock.now
        let pod = try PodProcess(service: service, workflow: "wf-gone", task: "t", options: ["--ctrl-arg", "-timeout", "--ctrl-arg", "1"], command: ["sleep", "300"])
        let status = pod.wait(timeout: 150)
        #expect(status != 0 && status != -1, "\(pod.output)")
        #expect(Clock.now - started >= 59)
        #expect(text(of: Path.join(pod.podDirectory, "ctrl.termination-log")).contains("\"code\":21"), "\(pod.output)")
        #expect(pod.output.contains("cannot reach the service"))
    }

    /// Metrics: group_metrics for the download and the upload, task_io_metrics per transfer.
    @Test func transferMetricsReachTheService() throws {
        let service = try ServiceProcess()
        let scratch = Scratch()
        try scratch.write("in/a.txt", "hello")
        let pod = try PodProcess(
            service: service, workflow: "wf-metrics", task: "t",
            options: ["--input", scratch.at("in"), "--output", scratch.at("out")], command: ["sh", "-c", "cp {{input:0}}/a.txt {{output}}/b.txt"])
        #expect(pod.wait(timeout: 60) == 0, "\(pod.output)")
        let metrics = service.metrics("wf-metrics")
        #expect(metrics.contains("\"type_of_metrics\":\"input_download\""))
        #expect(metrics.contains("\"type_of_metrics\":\"output_upload\""))
        #expect(metrics.contains("\"MetricType\":\"task_io_metrics\""))
        #expect(metrics.contains("\"type\":\"INPUT\"") && metrics.contains("\"type\":\"OUTPUT\""))
        #expect(metrics.contains("\"size_in_bytes\":5"))
    }
}
