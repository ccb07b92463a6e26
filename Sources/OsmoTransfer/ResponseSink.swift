import OsmoCore

/// Where a response body goes. The engine calls these on its own thread, in order:
/// `begin` once per attempt (after the headers), `write` per chunk, `finish` on success.
///
/// A sink holds what it already has (`offset`); the engine asks the server for the rest with a
/// `Range` request on every attempt, so a dropped connection costs no re-sent bytes.
public protocol ResponseSink: AnyObject, Sendable {
    /// Bytes already held; the next attempt requests `Range: bytes=offset-`.
    var offset: Int64 { get }
    /// The status line and headers of a 2xx response. `requestedOffset` is what the engine
    /// asked for; a 200 to a range request means the server is sending everything again.
    func begin(_ head: HTTPResponse, requestedOffset: Int64) -> SinkDecision
    /// A chunk of body. May ask to pause (backpressure); call `TransferEngine.resume` later.
    func write(_ bytes: UnsafeRawBufferPointer) -> SinkWrite
    /// Whole body received.
    func finish(_ head: HTTPResponse) throws
    /// The transfer failed for good (no more attempts); release what the sink holds.
    func abandon(_ error: OsmoError)
}

public enum SinkDecision: Sendable {
    case accept
    /// Drop what is held and try again from byte 0 (the object changed under us).
    case restart
    case fail(OsmoError)
}

public enum SinkWrite: Sendable {
    case accepted
    case pause
    case fail(OsmoError)
}

extension ResponseSink {
    public func abandon(_ error: OsmoError) {}
}
