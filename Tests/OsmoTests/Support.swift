import Glibc
import OsmoCore
import OsmoSystem
import Testing

/// The `osmo` executable built next to this test bundle (`swift test` builds it first because
/// the test target depends on it); `$OSMO_BINARY` overrides.
enum OsmoBinary {
    static let path: String = {
        if let env = getenv("OSMO_BINARY") { return String(cString: env) }
        let exe = FileSystem.readLink("/proc/self/exe") ?? CommandLine.arguments[0]
        var dir = Path.parent(exe)
        // Inside an .xctest bundle directory on some layouts.
        while !FileSystem.isExecutableFile(Path.join(dir, "osmo")) && dir != "/" { dir = Path.parent(dir) }
        return Path.join(dir, "osmo")
    }()
}

/// A temporary directory removed (recursively) when the value is released.
/// Seconds to wait for something a test expects, scaled by `OSMO_TEST_TIMEOUT_SCALE` (one knob
/// for a slow or busy machine).
func patience(_ seconds: Double) -> Double {
    seconds * (getenv("OSMO_TEST_TIMEOUT_SCALE").flatMap { Double(String(cString: $0)) } ?? 1)
}

final class Scratch {
    let path: String

    init(_ name: String = "osmo-test") {
        var template = Array("/tmp/\(name)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { _ = try? Shell.run("/bin/rm", ["-rf", path]) }

    func at(_ parts: String...) -> String { Path.join([path] + parts) }

    func write(_ relative: String, _ text: String, mode: mode_t = 0o644) throws {
        let full = at(relative)
        try FileSystem.makeDirectory(Path.parent(full), mode: 0o755)
        try FileSystem.writeAtomically(Array(text.utf8), to: full, mode: mode)
    }
}

/// Result of a finished child process.
struct Finished {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs real programs with pipes, collecting output with poll (no deadlock on big outputs).
enum Shell {
    static func run(
        _ executable: String, _ arguments: [String], argv0: String? = nil, environment: [String]? = nil,
        stdin: String? = nil
    ) throws -> Finished {
        let out = try ProcessControl.pipe()
        let err = try ProcessControl.pipe()
        let input = try ProcessControl.pipe()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable: executable, arguments: [argv0 ?? executable] + arguments,
                environment: environment ?? ChildProcess.currentEnvironment,
                stdin: input.read, stdout: out.write, stderr: err.write)
        } catch {
            [out.read, out.write, err.read, err.write, input.read, input.write].forEach { close($0) }
            throw error
        }
        close(out.write)
        close(err.write)
        close(input.read)
        if let stdin {
            try? FileSystem.writeAll(input.write, stdin, what: "stdin")
        }
        close(input.write)
        var collected: [Int32: [UInt8]] = [out.read: [], err.read: []]
        var open = [out.read, err.read]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            try Poll.wait(&fds, timeoutMilliseconds: -1)
            for entry in fds where entry.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    collected[entry.fd]! += buffer[0..<n]
                } else if n == 0 || errno != EINTR {
                    close(entry.fd)
                    open.removeAll { $0 == entry.fd }
                }
            }
        }
        let termination = try child.wait()
        return Finished(
            status: termination.exitStatus,
            stdout: String(decoding: collected[out.read]!, as: UTF8.self),
            stderr: String(decoding: collected[err.read]!, as: UTF8.self))
    }

    /// Runs `/bin/sh -c script`, expecting success.
    @discardableResult
    static func sh(_ script: String) throws -> String {
        let result = try run("/bin/sh", ["-c", script])
        guard result.status == 0 else {
            throw OsmoError(.command, "sh -c \(script) failed (\(result.status)): \(result.stderr)")
        }
        return result.stdout
    }

    static var isRoot: Bool { geteuid() == 0 }
}

/// A file's text, or "" when it cannot be read (yet): for polling and for messages.
func text(of path: String) -> String {
    (try? FileSystem.readText(path)) ?? ""
}

extension String {
    var lines: [Substring] { split(separator: "\n", omittingEmptySubsequences: false) }
}

/// A running process's peak resident memory (`VmHWM`), found by its command line.
enum ProcessMemory {
    /// KiB, for the first process whose command line contains every one of `parts`.
    static func peakKiB(commandContaining parts: [String]) -> Int? {
        guard let entries = try? FileSystem.contents(of: "/proc") else { return nil }
        for pid in entries where pid.allSatisfy(\.isNumber) {
            let command = text(of: "/proc/\(pid)/cmdline")
            guard parts.allSatisfy({ command.contains($0) }) else { continue }
            for line in text(of: "/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix("VmHWM:") {
                return Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "")
            }
        }
        return nil
    }
}
