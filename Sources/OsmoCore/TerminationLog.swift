import Glibc

/// Writes the `{"code":N}` record Kubernetes surfaces as the container's termination message.
///
/// The service reads it to tell *why* ctrl failed, so it is written from whichever thread notices
/// the failure, before exiting. Plain `open`/`write` only: this must work while everything else is
/// going wrong.
public struct TerminationLog: Sendable {
    public static let defaultPath = "/dev/termination-log"
    /// Environment variable that redirects the log (tests, local pods).
    public static let environmentKey = "OSMO_TERMINATION_LOG"

    public let path: String

    public init(path: String? = nil) {
        if let path {
            self.path = path
        } else if let env = getenv(Self.environmentKey) {
            self.path = String(cString: env)
        } else {
            self.path = Self.defaultPath
        }
    }

    /// Replaces the file's content with `{"code":N}`. Returns false (and never throws) on failure:
    /// a missing termination log must not hide the original error.
    @discardableResult
    public func write(_ code: ExitCode) -> Bool {
        write(code: code.rawValue)
    }

    @discardableResult
    public func write(code: Int32) -> Bool {
        let record = Array("{\"code\":\(code)}".utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var done = 0
        while done < record.count {
            let n = record.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, record.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}
