import Glibc
import OsmoCore
import OsmoSystem
import Testing

@Suite struct ExitCodeTests {
    /// The reference's ctrl table (PROTOCOL.md §3): the service decodes these numbers.
    @Test func referenceTable() {
        let expected: [ExitCode: Int32] = [
            .downloadFailed: 10, .uploadFailed: 12, .dataAuthCheckFailed: 13, .dataUnauthorized: 14,
            .tokenInvalid: 20, .websocketTimeout: 21, .websocketMessageFailed: 22, .unixMessageFailed: 23,
            .barrierFailed: 24, .metricsFailed: 25, .invalidInput: 30, .commandFailed: 31, .fileFailed: 32,
            .misc: 40,
        ]
        for (code, value) in expected { #expect(code.rawValue == value, "\(code)") }
        #expect(Set(ExitCode.allCases.map(\.rawValue)).count == ExitCode.allCases.count, "codes are unique")
    }

    @Test func errorKindsMapToCtrlCodes() {
        #expect(ExitCode.forCtrl(.download) == .downloadFailed)
        #expect(ExitCode.forCtrl(.upload) == .uploadFailed)
        #expect(ExitCode.forCtrl(.dataAuth) == .dataAuthCheckFailed)
        #expect(ExitCode.forCtrl(.unauthorized) == .dataUnauthorized)
        #expect(ExitCode.forCtrl(.invalidInput) == .invalidInput)
        #expect(ExitCode.forCtrl(OsmoError.Code("something-new")) == .misc)
    }

    @Test func signalStatus() {
        #expect(ExitCode.status(signal: SIGKILL) == 137)
        #expect(ChildProcess.Termination.signaled(SIGTERM).exitStatus == 143)
        #expect(ChildProcess.Termination.exited(3).exitStatus == 3)
    }
}

@Suite struct TerminationLogTests {
    @Test func writesCodeRecordAndReplacesOldContent() throws {
        let scratch = Scratch()
        let path = scratch.at("termination-log")
        try scratch.write("termination-log", "a much longer previous message that must disappear")
        let log = TerminationLog(path: path)
        #expect(log.write(.downloadFailed))
        #expect(try FileSystem.readText(path) == #"{"code":10}"#)
        #expect(log.write(.websocketTimeout))
        #expect(try FileSystem.readText(path) == #"{"code":21}"#)
    }

    @Test func unwritablePathReportsFailureWithoutThrowing() {
        let log = TerminationLog(path: "/nonexistent-dir/termination-log")
        #expect(log.write(.misc) == false)
    }

    @Test func environmentOverridesDefaultPath() throws {
        let result = try Shell.run("/usr/bin/env", ["OSMO_TERMINATION_LOG=/tmp/x-log", OsmoBinary.path, "--version"])
        #expect(result.status == 0)
        #expect(TerminationLog(path: nil).path == (getenv("OSMO_TERMINATION_LOG").map { String(cString: $0) } ?? TerminationLog.defaultPath))
    }
}

@Suite struct AtomicFileTests {
    @Test func failedFillLeavesOldContentAndNoTemporary() throws {
        let scratch = Scratch()
        try scratch.write("bin/osmo", "old binary")
        struct Crash: Error {}
        #expect(throws: Crash.self) {
            try FileSystem.replaceAtomically(scratch.at("bin/osmo"), mode: 0o755) { fd, _ in
                var half = "new bi"
                try half.withUTF8 { try FileSystem.writeAll(fd, UnsafeRawBufferPointer($0), what: "half") }
                throw Crash()
            }
        }
        #expect(try FileSystem.readText(scratch.at("bin/osmo")) == "old binary")
        #expect(try FileSystem.contents(of: scratch.at("bin")) == ["osmo"])
    }

    /// A batch that fails before commit leaves every destination as it was and no temporaries.
    @Test func uncommittedBatchChangesNothing() throws {
        let scratch = Scratch()
        try scratch.write("a", "old a")
        try scratch.write("src", "new content")
        do {
            let batch = AtomicBatch()
            try batch.copy(from: scratch.at("src"), to: scratch.at("a"), mode: 0o644)
            try batch.copy(from: scratch.at("src"), to: scratch.at("b"), mode: 0o644)
            #expect(throws: OsmoError.self) { try batch.copy(from: scratch.at("missing"), to: scratch.at("c"), mode: 0o644) }
        }
        #expect(try FileSystem.readFile(scratch.at("a")) == Array("old a".utf8))
        #expect(try FileSystem.contents(of: scratch.path).sorted() == ["a", "src"])
        let batch = AtomicBatch()
        try batch.copy(from: scratch.at("src"), to: scratch.at("a"), mode: 0o600)
        try batch.commit()
        #expect(try FileSystem.readFile(scratch.at("a")) == Array("new content".utf8))
        #expect(FileSystem.status(scratch.at("a"))!.st_mode & 0o777 == 0o600)
    }

    @Test func installCopiesContentAndMode() throws {
        let scratch = Scratch()
        let payload = String(repeating: "0123456789abcdef", count: 300_000)  // 4.8 MB
        try scratch.write("src", payload)
        try FileSystem.installAtomically(from: scratch.at("src"), to: scratch.at("dst"), mode: 0o755)
        #expect(try FileSystem.readFile(scratch.at("dst")).count == payload.utf8.count)
        #expect(FileSystem.status(scratch.at("dst"))!.st_mode & 0o777 == 0o755)
    }
}
