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
        let lone = try LoneCtrl(scratch, workflow: "wf-wait", environment: ["OSMO_CTRL_WAIT_NOTICE_SECONDS=0.2"])
        let ctrl = lone.child, socket = lone.socket

        // Reads ctrl's output as it comes until two notices arrived (or ctrl ended, or patience ran out).
        var read: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let notice = "Still waiting for osmo_exec to connect on \(socket)"
        func notices() -> Int { String(decoding: read, as: UTF8.self).components(separatedBy: notice).count - 1 }
        let deadline = Clock.now + patience(30)
        while notices() < 2, Clock.now < deadline {
            let left = Int32(max(1, (deadline - Clock.now) * 1000))
            guard try Poll.wait(lone.output, events: Int16(POLLIN), timeoutMilliseconds: left) else { continue }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(lone.output, $0.baseAddress, $0.count) }
            if n > 0 { read += buffer[0..<n] } else if n == 0 || errno != EINTR { break }
        }
        let text = String(decoding: read, as: UTF8.self)
        #expect(notices() >= 2, "\(text)")
        #expect(text.contains("giving up after 120 min"), "\(text)")

        // Still waiting, still responsive: SIGTERM ends it with the reference's misc code.
        #expect(ctrl.signal(SIGTERM))
        withExtendedLifetime(lone) {}
        let status = try ctrl.wait()
        #expect(status.exitStatus == ExitCode.misc.rawValue, "\(status)")
    }
}
