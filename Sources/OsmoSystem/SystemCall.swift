import Glibc
import OsmoCore

/// Helpers that turn `-1`/`errno` results into `OsmoError`s and retry `EINTR` in one place.
public enum SystemCall {
    /// `strerror(errno)` as a Swift string.
    public static func describe(errno code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// Runs `body` until it does not fail with `EINTR`; throws for any other `-1` result.
    @discardableResult
    public static func retrying<T: BinaryInteger>(
        _ what: @autoclosure () -> String, _ code: OsmoError.Code = .io, _ body: () -> T
    ) throws -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let err = errno
            if err == EINTR { continue }
            throw OsmoError(code, "\(what()): \(describe(errno: err))", cause: Errno(err))
        }
    }
}

/// A raw errno, kept as the `cause` of an `OsmoError` so callers can branch on it.
public struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public var description: String { SystemCall.describe(errno: rawValue) }
}

extension OsmoError {
    /// The errno behind this error, if a system call caused it.
    public var errno: Int32? { (cause as? Errno)?.rawValue }
}
