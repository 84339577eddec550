import Synchronization

/// The handler tasks of running commands, by command id.
final class RunningCommands: Sendable {
    private let tasks = Mutex<[String: Task<Void, Never>]>([:])

    func add(_ id: String, _ task: Task<Void, Never>) { tasks.withLock { $0[id] = task } }
    func remove(_ id: String) { _ = tasks.withLock { $0.removeValue(forKey: id) } }
    func cancel(_ id: String) { tasks.withLock { $0.removeValue(forKey: id)?.cancel() } }
    func cancelAll() { tasks.withLock { for task in $0.values { task.cancel() } } }
}
