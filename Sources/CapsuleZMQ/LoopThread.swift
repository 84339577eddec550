import CZeroMQ
import Foundation
import Synchronization

/// The state a ``LoopThread`` owns. It is created on the thread, used only there, and shut down there.
package protocol LoopCore: AnyObject, SendableMetatype {
    /// Closes sockets and flushes what must be flushed. Runs on the loop thread, last.
    func shutdown()
}

/// One dedicated OS thread that owns a set of libzmq sockets and runs their `zmq_poll` loop.
///
/// Nothing here blocks Swift's cooperative pool: ``run()`` suspends until the thread ends, and other
/// tasks hand work to the thread with ``post(_:)``, which is woken through an `eventfd`.
package final class LoopThread<Core: LoopCore>: Sendable {
    private struct State {
        var jobs: [@Sendable (Core) -> Void] = []
        var stopRequested = false
        var started = false
    }

    private let name: String
    private let context: ZMQContext
    private let setup: @Sendable (PollLoop) throws -> Core
    private let state = Mutex(State())
    private let wake = EventSignal()

    /// - Parameters:
    ///   - name: the thread's name, shown in debuggers and logs.
    ///   - setup: runs on the new thread; opens sockets, registers them on the loop and returns the core.
    package init(name: String, context: ZMQContext, setup: @escaping @Sendable (PollLoop) throws -> Core) {
        self.name = name
        self.context = context
        self.setup = setup
    }

    /// Runs `job` on the loop thread with its core. Jobs run in the order posted.
    package func post(_ job: @escaping @Sendable (Core) -> Void) {
        state.withLock { $0.jobs.append(job) }
        wake.signal()
    }

    /// Asks the loop to finish; ``run()`` returns once the core has shut down.
    package func stop() {
        state.withLock { $0.stopRequested = true }
        wake.signal()
    }

    /// Starts the thread and waits until it ends. Cancelling the calling task stops the loop. A loop
    /// runs once: a second call throws ``ZMQError`` (`EALREADY`) instead of starting a second thread.
    package func run() async throws {
        let first = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { throw ZMQError(code: EALREADY, operation: "LoopThread.run: \(name) already ran") }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread { [self] in
                    do {
                        try self.loop()
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = name
                thread.start()
            }
        } onCancel: {
            stop()
        }
    }

    private func loop() throws {
        // Linux thread names hold 15 bytes; set it from the thread itself so tools and tests see it.
        Thread.current.name = String(name.prefix(15))
        let poll = PollLoop(context: context)
        let core = try setup(poll)
        defer { core.shutdown() }
        while true {
            let (jobs, stopping) = state.withLock { state in
                let jobs = state.jobs
                state.jobs.removeAll()
                return (jobs, state.stopRequested)
            }
            for job in jobs { job(core) }
            if !jobs.isEmpty { poll.endTurn() }
            if stopping { return }
            if try poll.turn(wakeFD: wake.fd, maxWaitMilliseconds: 250) { wake.clear() }
        }
    }
}
