import CapsuleZMQ
import Foundation
import Synchronization
import Testing

/// A core whose loop hands jobs to a ``LoopWorker`` and records where and in what order their
/// completions ran.
final class WorkerCore: LoopCore {
    let worker: LoopWorker
    let owner = pthread_self()
    var completed: [Int] = []
    var completionsOnLoop = true
    let jobsOffLoop = Mutex(true)

    init(loop: PollLoop) {
        worker = LoopWorker(name: "worker-test", loop: loop)
    }

    func submit(_ count: Int) {
        let owner = owner
        for number in 0..<count {
            worker.submit(
                { [self] in
                    if pthread_equal(pthread_self(), owner) != 0 { jobsOffLoop.withLock { $0 = false } }
                    // Later jobs finish faster: the order must still be the order submitted.
                    usleep(UInt32((count - number) * 200))
                    return number * 10
                },
                completion: { [unowned self] result in
                    if pthread_equal(pthread_self(), owner) == 0 { completionsOnLoop = false }
                    completed.append(result)
                }
            )
        }
    }

    func shutdown() { worker.finish() }
}

extension WorkerCore: @unchecked Sendable {}

struct LoopWorkerTests {
    @Test func jobsRunOffTheLoopAndCompleteOnItInOrder() async throws {
        let thread = LoopThread<WorkerCore>(name: "worker-loop", context: ZMQContext()) { WorkerCore(loop: $0) }
        let running = Task { try await thread.run() }
        thread.post { $0.submit(20) }
        var seen: (completed: [Int], onLoop: Bool, offLoop: Bool, pending: Int) = ([], false, false, -1)
        for _ in 0..<500 {
            seen = await withCheckedContinuation { continuation in
                thread.post { core in
                    continuation.resume(
                        returning: (
                            core.completed, core.completionsOnLoop, core.jobsOffLoop.withLock { $0 },
                            core.worker.pending
                        )
                    )
                }
            }
            if seen.completed.count == 20 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(seen.completed == (0..<20).map { $0 * 10 })
        #expect(seen.onLoop, "a completion ran on another thread than the loop's")
        #expect(seen.offLoop, "a job ran on the loop thread")
        #expect(seen.pending == 0)
        thread.stop()
        try await running.value
    }

    @Test func finishWaitsForEveryJobAndRunsItsCompletion() async throws {
        let done = Mutex<[Int]>([])
        let thread = LoopThread<WorkerCore>(name: "worker-finish", context: ZMQContext()) { WorkerCore(loop: $0) }
        let running = Task { try await thread.run() }
        // Stop right after submitting: shutdown's finish() must still run all five completions.
        thread.post { core in
            core.submit(5)
            core.worker.submit({ 99 }, completion: { value in done.withLock { $0 = core.completed + [value] } })
        }
        thread.stop()
        try await running.value
        #expect(done.withLock { $0 } == [0, 10, 20, 30, 40, 99])
    }
}
