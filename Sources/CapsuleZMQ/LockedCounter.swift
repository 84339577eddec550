import Synchronization

/// A process-wide counter for unique inproc endpoint names.
final class LockedCounter: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int { value.add(1, ordering: .relaxed).newValue }
}
