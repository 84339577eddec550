import CZeroMQ
import Dispatch
import Foundation
import Synchronization

/// A second OS thread for one loop thread's slow work (a store's commit), so the loop keeps
/// reading its sockets meanwhile. Jobs run one at a time, in the order submitted; each result comes
/// back to the loop thread, woken through an `eventfd`, where its completion runs.
///
/// Created, used and finished on its loop thread only; the job itself must not touch that thread's
/// sockets or state.
package final class LoopWorker {
    private final class Shared: Sendable {
        struct State {
            var jobs: [@Sendable () -> any Sendable] = []
            var results: [any Sendable] = []
        }

        let state = Mutex(State())
        let queued = DispatchSemaphore(value: 0)
        let ended = DispatchSemaphore(value: 0)
        let done = EventSignal()

        func run() {
            while true {
                queued.wait()
                let next: (@Sendable () -> any Sendable)? = state.withLock { state in
                    state.jobs.isEmpty ? nil : state.jobs.removeFirst()
                }
                guard let next else {
                    // Only ``LoopWorker/finish()`` signals without a job, after the last one.
                    ended.signal()
                    return
                }
                let result = next()
                state.withLock { $0.results.append(result) }
                done.signal()
            }
        }
    }

    private let shared = Shared()
    private var completions: [(any Sendable) -> Void] = []
    private var finished = false

    /// Jobs submitted whose completion has not run yet.
    package var pending: Int { completions.count }

    /// Starts the thread `name` and watches for its results on `loop`.
    package init(name: String, loop: PollLoop) {
        let shared = shared
        let thread = Thread { shared.run() }
        thread.name = String(name.prefix(15))
        thread.start()
        loop.register(fd: shared.done.fd) { [unowned self] in self.collect() }
    }

    deinit {
        if !finished {
            shared.queued.signal()
            shared.ended.wait()
        }
    }

    /// Runs `work` on the worker thread, then `completion` with its result on the loop thread.
    package func submit<T: Sendable>(_ work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        precondition(!finished, "LoopWorker.submit after finish")
        completions.append { completion($0 as! T) }
        shared.state.withLock { $0.jobs.append(work) }
        shared.queued.signal()
    }

    /// Runs the completions of the jobs done so far (the loop calls this when the `eventfd` fires).
    private func collect() {
        shared.done.clear()
        let results = shared.state.withLock { state in
            defer { state.results.removeAll() }
            return state.results
        }
        for result in results { completions.removeFirst()(result) }
    }

    /// Waits for every submitted job, runs their completions, and ends the thread.
    package func finish() {
        guard !finished else { return }
        finished = true
        shared.queued.signal()
        shared.ended.wait()
        collect()
    }
}
