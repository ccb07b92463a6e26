import Synchronization

/// A one-way boolean shared between tasks and threads.
public final class Flag: Sendable {
    private let value = Atomic(false)
    public init() {}
    public func set() { value.store(true, ordering: .releasing) }
    public var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A shared running total (bytes moved, sessions opened).
public final class Counter: Sendable {
    private let total = Atomic(0)
    public init() {}
    public func add(_ n: Int) { total.add(n, ordering: .relaxed) }
    public var value: Int { total.load(ordering: .relaxed) }
}
