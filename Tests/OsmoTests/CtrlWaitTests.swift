import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// Issue 13 §5: a user container whose entrypoint never starts leaves ctrl waiting for
/// `-unixTimeout` (two hours); ctrl says so at `OSMO_CTRL_WAIT_NOTICE_SECONDS` intervals, naming
/// the socket, and a SIGTERM still ends the wait.
@Suite struct CtrlWaitTests {
    @Test func ctrlSaysWhatItWaitsFor() throws {
        let scratch = Scratch()
        for dir in ["input", "output", "socket"] { try FileSystem.makeDirectory(scratch.at(dir), mode: 0o755) }
        let socket = scratch.at("socket/data.sock")
        let pipe = try ProcessControl.pipe()
        let ctrl = try ChildProcess.spawn(
            executable: OsmoBinary.path,
            arguments: ["osmo_ctrl", "-socketPath", socket, "-inputPath", scratch.at("input/"), "-outputPath", scratch.at("output/"),
                        "-workflow", "wf-wait", "-logSource", "t", "-userConfig", "/nonexistent", "-serviceConfig", "/nonexistent"],
            environment: ChildProcess.currentEnvironment + ["OSMO_CTRL_WAIT_NOTICE_SECONDS=0.2",
                                                            "OSMO_TERMINATION_LOG=\(scratch.at("termination-log"))"],
            stdout: pipe.write, stderr: pipe.write)
        close(pipe.write)
        defer { close(pipe.read) }

        // Reads ctrl's output as it comes until two notices arrived (or ctrl ended, or patience ran out).
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let notice = "Still waiting for osmo_exec to connect on \(socket)"
        func notices() -> Int { String(decoding: output, as: UTF8.self).components(separatedBy: notice).count - 1 }
        let deadline = Clock.now + patience(30)
        while notices() < 2, Clock.now < deadline {
            let left = Int32(max(1, (deadline - Clock.now) * 1000))
            guard try Poll.wait(pipe.read, events: Int16(POLLIN), timeoutMilliseconds: left) else { continue }
            let n = buffer.withUnsafeMutableBytes { read(pipe.read, $0.baseAddress, $0.count) }
            if n > 0 { output += buffer[0..<n] } else if n == 0 || errno != EINTR { break }
        }
        let text = String(decoding: output, as: UTF8.self)
        #expect(notices() >= 2, "\(text)")
        #expect(text.contains("giving up after 120 min"), "\(text)")

        // Still waiting, still responsive: SIGTERM ends it with the reference's misc code.
        #expect(ctrl.signal(SIGTERM))
        let status = try ctrl.wait()
        #expect(status.exitStatus == ExitCode.misc.rawValue, "\(status)")
    }
}
