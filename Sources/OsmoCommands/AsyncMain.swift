import OsmoSystem

/// Runs async work from the synchronous entry point: the main thread sleeps while the work runs
/// on Swift's executors (NIO has its own threads).
enum AsyncMain {
    static func block<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let result = ConditionLock<Result<T, any Error>?>(nil)
        Task.detached {
            do {
                let value = try await work()
                result.withLock { $0 = .success(value) }
            } catch {
                result.withLock { $0 = .failure(error) }
            }
        }
        return try result.wait { $0 }!.get()
    }
}
