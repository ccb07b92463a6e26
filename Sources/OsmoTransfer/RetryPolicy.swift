/// When and how long to wait before trying a failed exchange again.
///
/// Connection errors, 5xx, 408 and 429 are retried with jittered exponential backoff (a
/// `Retry-After` from the server wins); 4xx answers such as 403 are final: retrying a bad
/// credential only delays the clear message.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int = 8, baseDelay: Double = 0.2, maxDelay: Double = 20) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Seconds to wait before attempt `attempt + 1` (attempt counts from 1): uniform in
    /// [d/2, d] where d doubles each time, capped; `retryAfter` (seconds) overrides.
    public func delay(afterAttempt attempt: Int, retryAfter: Double? = nil) -> Double {
        if let retryAfter { return min(max(retryAfter, 0), maxDelay * 3) }
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(attempt - 1, 16)))
        return Double.random(in: (ceiling / 2)...ceiling)
    }

    public static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status)
    }
}
