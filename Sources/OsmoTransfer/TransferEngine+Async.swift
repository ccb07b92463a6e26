extension TransferEngine {
    /// One request from async code: the caller is suspended, not a thread blocked (the service
    /// link and the workstation CLI run on Swift's cooperative pool).
    public func response(to request: HTTPRequest) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { continuation in
            submit(request) { continuation.resume(with: $0) }
        }
    }
}
