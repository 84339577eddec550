import Dispatch

/// Where the async part of a COPY runs: a serial dispatch queue of its own, never Swift's
/// cooperative pool. The store is driven synchronously and its caller blocks on the answer; a caller
/// that is itself a pool thread (a test, a task that called into a store) must not wait for a task
/// that needs a pool thread to make progress.
final class CopyExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = CopyExecutor()
    private let queue = DispatchQueue(label: "capsule.postgres.copy")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
