import Synchronization

/// Resumes a continuation with whichever value arrives first; later values are ignored.
/// Lets a hung health provider lose the race against its timeout without blocking anyone.
final class FirstResult<Value: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Value, Never>?>(nil)

    static func race(_ contenders: [@Sendable () async -> Value]) async -> Value {
        let first = FirstResult<Value>()
        return await withCheckedContinuation { continuation in
            first.continuation.withLock { $0 = continuation }
            for contender in contenders {
                Task { first.resume(await contender()) }
            }
        }
    }

    private func resume(_ value: Value) {
        continuation.withLock { stored in
            stored?.resume(returning: value)
            stored = nil
        }
    }
}

/// The handler tasks of running commands, by command id.
final class RunningCommands: Sendable {
    private let tasks = Mutex<[String: Task<Void, Never>]>([:])

    func add(_ id: String, _ task: Task<Void, Never>) { tasks.withLock { $0[id] = task } }
    func remove(_ id: String) { _ = tasks.withLock { $0.removeValue(forKey: id) } }
    func cancel(_ id: String) { tasks.withLock { $0.removeValue(forKey: id)?.cancel() } }
    func cancelAll() { tasks.withLock { $0.values.forEach { $0.cancel() } } }
}
