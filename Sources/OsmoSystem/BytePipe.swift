import OsmoCore

/// A bounded in-memory pipe between a producer that must never block (the transfer engine's
/// write callback) and a consumer thread that may (libarchive's read callback).
///
/// `push` refuses once `capacity` bytes are queued: the producer pauses its transfer and is told
/// through `onDrain` when the consumer has made room again. Either side can fail the pipe.
public final class BytePipe: @unchecked Sendable {
    /// One owned, stable buffer (libarchive keeps pointing at the last one it was given).
    public final class Chunk: @unchecked Sendable {
        public let bytes: UnsafeMutableRawBufferPointer
        init(copying source: UnsafeRawBufferPointer) {
            bytes = .allocate(byteCount: source.count, alignment: 16)
            bytes.copyMemory(from: source)
        }
        deinit { bytes.deallocate() }
    }

    private struct State {
        var chunks: [Chunk] = []
        var head = 0
        var queued = 0
        var finished = false
        var failure: OsmoError?
        var producerWaiting = false
    }

    public let capacity: Int
    private let state = ConditionLock(State())
    /// Called (on the consumer's thread) when a refused producer may push again.
    public var onDrain: (@Sendable () -> Void)?

    public init(capacity: Int = 16 << 20) {
        self.capacity = capacity
    }

    public enum Push { case accepted, full, failed(OsmoError) }

    public func push(_ bytes: UnsafeRawBufferPointer) -> Push {
        state.withLock { s in
            if let failure = s.failure { return .failed(failure) }
            if s.queued >= capacity {
                s.producerWaiting = true
                return .full
            }
            s.chunks.append(Chunk(copying: bytes))
            s.queued += bytes.count
            return .accepted
        }
    }

    /// End of data (nil) or a producer-side failure the consumer should report.
    public func finish(_ failure: OsmoError? = nil) {
        state.withLock { s in
            s.finished = true
            if let failure, s.failure == nil { s.failure = failure }
        }
    }

    /// Consumer gave up: later pushes fail with `reason`.
    public func cancel(_ reason: OsmoError) {
        state.withLock { s in
            if s.failure == nil { s.failure = reason }
            s.chunks = []
            s.head = 0
            s.queued = 0
        }
        onDrain?()
    }

    /// Next chunk, blocking; nil at the end of data; throws what the producer failed with.
    public func pop() throws -> Chunk? {
        var wake = false
        let next: Result<Chunk?, OsmoError> = state.wait { s in
            if let failure = s.failure { return .failure(failure) }
            if s.head < s.chunks.count {
                let chunk = s.chunks[s.head]
                s.head += 1
                s.queued -= chunk.bytes.count
                if s.head > 64 { s.chunks.removeFirst(s.head); s.head = 0 }
                if s.producerWaiting && s.queued < capacity / 2 {
                    s.producerWaiting = false
                    wake = true
                }
                return .success(chunk)
            }
            return s.finished ? .success(nil) : nil
        }!
        if wake { onDrain?() }
        return try next.get()
    }
}
