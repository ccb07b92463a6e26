import Glibc
import OsmoCore
import OsmoNet
import OsmoProtocol
import OsmoSystem
import Synchronization

/// What an exec session sends back, sorted out: our wrapper's hello first (`ExecFraming`), then
/// terminal bytes (ending in the `\0EXIT:` trailer) or pipe records (stdout to fd 1, stderr to
/// fd 2, the status last). No hello means a reference wrapper: terminal bytes, no status.
///
/// Concurrency model: the session's reader task feeds it; the input task waits for the mode
/// (`mode()`, woken by a Doorbell); a timer task declares a silent peer a reference wrapper. The
/// state is one enum under a Mutex; output is written outside the lock by the reader alone.
final class ExecOutput: Sendable {
    /// How long a peer may stay silent before it is taken for a reference wrapper (ours says
    /// hello before it starts the command).
    static let helloWaitSeconds = 10.0

    enum Phase {
        case waiting([UInt8])
        /// `expectStatus`: our wrapper said hello, so a status trailer must end the session.
        case terminal(trailer: ExitTrailer, expectStatus: Bool)
        case pipes(ExecFraming.Decoder)
    }

    private struct State {
        var phase: Phase = .waiting([])
        var status: Int32?
        var sawExitRecord = false
        var ended = false
    }

    private let state = Mutex(State())
    private let modeKnown = Doorbell()
    let wantedTTY: Bool

    init(tty: Bool) {
        wantedTTY = tty
    }

    /// The wrapper's mode, once known; nil if the session ended first.
    func mode() async -> ExecFraming.Mode? {
        while true {
            let known: ExecFraming.Mode?? = state.withLock { s in
                switch s.phase {
                case .waiting: s.ended ? .some(nil) : nil
                case .terminal: .some(.tty)
                case .pipes: .some(.pipe)
                }
            }
            if let known { return known }
            if Task.isCancelled { return nil }
            await modeKnown.wait()
        }
    }

    var finished: Bool { state.withLock { $0.sawExitRecord } }

    func feed(_ bytes: [UInt8]) throws {
        var writes: [(fd: Int32, bytes: [UInt8])] = []
        var becameKnown = false
        var legacyNotice = false
        try state.withLock { s in
            var bytes = bytes
            if case .waiting(let held) = s.phase {
                let data = held + bytes
                switch ExecFraming.parseHello(data) {
                case .incomplete:
                    s.phase = .waiting(data)
                    return
                case .none:
                    s.phase = .terminal(trailer: ExitTrailer(), expectStatus: false)
                    legacyNotice = !wantedTTY
                    bytes = data
                case .mode(let mode, let consumed):
                    s.phase = mode == .pipe ? .pipes(ExecFraming.Decoder()) : .terminal(trailer: ExitTrailer(), expectStatus: true)
                    bytes = Array(data[consumed...])
                }
                becameKnown = true
            }
            switch s.phase {
            case .waiting: break
            case .terminal(var trailer, let expect):
                let visible = trailer.feed(bytes)
                if let status = trailer.status { s.status = status }
                s.phase = .terminal(trailer: trailer, expectStatus: expect)
                writes.append((1, visible))
            case .pipes(var decoder):
                for record in try decoder.feed(bytes) {
                    switch record.kind {
                    case .stdout: writes.append((1, Array(record.payload)))
                    case .stderr: writes.append((2, Array(record.payload)))
                    case .exit:
                        s.status = Int32(String(decoding: record.payload, as: UTF8.self)) ?? ExecClient.sessionLost
                        s.sawExitRecord = true
                    default: break
                    }
                }
                s.phase = .pipes(decoder)
            }
        }
        if legacyNotice {
            OsmoOutput.write(2, "osmo exec: the task's runtime runs exec sessions on a terminal only (a reference osmo_exec): stdout and stderr arrive merged, with CR LF line ends, and no exit status\n")
        }
        if becameKnown { modeKnown.ring() }
        for write in writes where !write.bytes.isEmpty {
            write.bytes.withUnsafeBytes { try? FileSystem.writeAll(write.fd, $0, what: write.fd == 1 ? "stdout" : "stderr") }
        }
    }

    /// No hello within the wait: a reference wrapper (or none at all yet).
    func noHello() {
        let changed = state.withLock { s -> Bool in
            guard case .waiting(let held) = s.phase, held.isEmpty else { return false }
            s.phase = .terminal(trailer: ExitTrailer(), expectStatus: false)
            return true
        }
        guard changed else { return }
        if !wantedTTY {
            OsmoOutput.write(2, "osmo exec: no word from the task's runtime in \(Int(Self.helloWaitSeconds)) s: taking it for a reference osmo_exec, which runs exec sessions on a terminal only\n")
        }
        modeKnown.ring()
    }

    /// The stream ended: what was held back was output.
    func finish() {
        let rest: [UInt8] = state.withLock { s in
            s.ended = true
            switch s.phase {
            case .waiting(let held): return held
            case .terminal(var trailer, let expect):
                let rest = trailer.finish()
                s.phase = .terminal(trailer: trailer, expectStatus: expect)
                return rest
            case .pipes: return []
            }
        }
        rest.withUnsafeBytes { try? FileSystem.writeAll(1, $0, what: "stdout") }
        modeKnown.ring()
    }

    /// The command's status; a session our wrapper ran that ended without one is an error.
    func exitStatus() -> Int32 {
        let (status, expected, pending): (Int32?, Bool, Int) = state.withLock { s in
            switch s.phase {
            case .waiting: (s.status, false, 0)
            case .terminal(_, let expect): (s.status, expect, 0)
            case .pipes(let decoder): (s.status, true, decoder.pendingBytes)
            }
        }
        if let status { return status }
        guard expected else { return 0 }
        let detail = pending > 0 ? " (\(pending) bytes of a cut record)" : ""
        OsmoOutput.write(2, "osmo exec: the session ended before the command reported its exit status\(detail): the connection was cut or the task's pod stopped\n")
        return ExecClient.sessionLost
    }
}

/// Short messages to a standard stream, unbuffered.
enum OsmoOutput {
    static func write(_ fd: Int32, _ text: String) {
        Array(text.utf8).withUnsafeBytes { try? FileSystem.writeAll(fd, $0, what: fd == 2 ? "stderr" : "stdout") }
    }
}
