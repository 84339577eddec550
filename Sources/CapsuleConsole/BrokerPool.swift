package import CapsuleDomain
package import CapsuleProtocol
package import CapsuleRuntime
import Dispatch
package import Foundation
import Synchronization

/// A few OS threads, each owning one ``RequestClient`` (one CURVE DEALER) to the broker.
///
/// `RequestClient` blocks while it waits for an answer, and its socket may only be used on the thread
/// that made it, so neither may run on Swift concurrency's cooperative pool (two threads here). Async
/// callers hand a job to the pool with ``run(_:)`` and are resumed through a continuation when a
/// thread has run it. Threads, and their clients, are started on first need up to `size`; a client
/// that fails to connect is retried with the next job.
package final class BrokerPool: Sendable {
    /// A job runs on a pool thread with that thread's client (or the error that kept it from having one).
    private typealias Job = @Sendable (Swift.Result<RequestClient, any Error>) -> Void

    private struct State {
        var jobs: [Job] = []
        var threads = 0
        var idle = 0
        var stopped = false
    }

    private let name: String
    private let size: Int
    private let makeClient: @Sendable () throws -> RequestClient
    private let state = Mutex(State())
    private let ready = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - size: at most this many threads (and connections to the broker).
    ///   - makeClient: runs on a pool thread; the client it returns stays on that thread.
    package init(name: String, size: Int, makeClient: @escaping @Sendable () throws -> RequestClient) {
        precondition(size > 0, "a pool needs at least one thread")
        self.name = name
        self.size = size
        self.makeClient = makeClient
    }

    /// Runs `body` on a pool thread with its client and returns what it returns (or throws what it throws).
    package func run<T: Sendable>(_ body: @escaping @Sendable (RequestClient) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            enqueue { client in
                continuation.resume(with: Swift.Result { try body(try client.get()) })
            }
        }
    }

    /// Runs one typed operation.
    package func call<Op: RequestOperation>(
        _ op: Op.Type,
        _ params: Op.Params,
        timeout: TimeInterval? = nil
    ) async throws -> Op.Result
    where Op.Params: Sendable, Op.Result: Sendable {
        try await run { client in try client.call(op, params, timeout: timeout) }
    }

    /// Runs `service`/`op` with free-form params and returns the free-form result.
    package func call(
        _ service: String,
        _ op: String,
        _ params: JSONValue,
        timeout: TimeInterval? = nil
    ) async throws -> JSONValue {
        try await run { client in try client.call(service, op, params, timeout: timeout) }
    }

    private static let poolKey = "capsule.console.pool"

    /// The name of the pool whose thread this is, or nil on any other thread (the cooperative pool's
    /// included): what tests check, and what a blocking call may assert.
    package static var currentPool: String? { Thread.current.threadDictionary[poolKey] as? String }

    /// Refuses new jobs and lets the threads end once they are idle. Jobs already queued still run.
    package func shutdown() {
        let threads = state.withLock { state in
            state.stopped = true
            return state.threads
        }
        for _ in 0..<threads { ready.signal() }
    }

    private func enqueue(_ job: @escaping Job) {
        let (accepted, spawn) = state.withLock { state -> (Bool, Bool) in
            guard !state.stopped else { return (false, false) }
            state.jobs.append(job)
            // A new thread only when none is idle for this job.
            if state.idle < state.jobs.count, state.threads < size {
                state.threads += 1
                return (true, true)
            }
            return (true, false)
        }
        guard accepted else {
            job(.failure(ErrorBody(.unavailable, "the console is shutting down")))
            return
        }
        if spawn {
            let thread = Thread { [self] in work() }
            thread.name = name
            thread.start()
        }
        ready.signal()
    }

    /// A pool thread: waits for a job, runs it with its own client, forever (until shutdown).
    private func work() {
        Thread.current.threadDictionary[Self.poolKey] = name
        var client: RequestClient?
        while true {
            state.withLock { $0.idle += 1 }
            ready.wait()
            let job = state.withLock { state -> Job? in
                state.idle -= 1
                if state.jobs.isEmpty {
                    if state.stopped { state.threads -= 1 }
                    return nil
                }
                return state.jobs.removeFirst()
            }
            guard let job else {
                if state.withLock({ $0.stopped }) { return }
                continue
            }
            if client == nil {
                do {
                    client = try makeClient()
                } catch {
                    job(.failure(error))
                    continue
                }
            }
            job(.success(client!))
        }
    }
}
