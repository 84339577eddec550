import CapsuleRuntime
package import CapsuleStore
import Foundation
package import Logging
import Synchronization

/// Holds (or waits for) the broker lease on a thread of its own, over a store connection of its
/// own, so a busy or blocked loop thread never delays a renewal (``BrokerLease`` has the rules).
///
/// A second thread, the watchdog, checks every 50 ms whether the lease may have lapsed by this
/// process's own clock; if so it calls `onLost` at once, even while a renewal is still waiting for
/// its answer. The broker's `onLost` ends the process image (``BrokerRestart``): the active
/// broker stops serving the moment it can no longer prove it holds the lease.
package final class LeaseKeeper: Sendable {
    package struct Status: Sendable, Hashable {
        package var active: Bool
        package var epoch: Int64
        /// The active broker's router endpoint as the lease names it (this one's when active).
        package var activeEndpoint: String?
        /// Why the lease cannot be checked just now (the store is unavailable), for the standby's refusals.
        package var problem: String?
    }

    private struct State {
        var status = Status(active: false, epoch: 0, activeEndpoint: nil, problem: nil)
        var deadline: ContinuousClock.Instant?
        var stopped = false
        var lost = false
    }

    package let holder: String
    package let endpoint: String
    package let seconds: Double
    private let store: any SQLStore
    private let logger: Logger
    private let onLost: @Sendable (String) -> Void
    private let state = Mutex(State())
    private let clock = ContinuousClock()

    package init(
        store: any SQLStore,
        holder: String,
        endpoint: String,
        seconds: Double,
        logger: Logger,
        onLost: @escaping @Sendable (String) -> Void
    ) {
        self.store = store
        self.holder = holder
        self.endpoint = endpoint
        self.seconds = seconds
        self.logger = logger
        self.onLost = onLost
    }

    package var status: Status { state.withLock { $0.status } }

    /// The statement that fences this holder's writes (see ``BrokerLease/fence(holder:epoch:)``).
    package var fence: (sql: String, arguments: SQLArguments) { BrokerLease.fence(holder: holder, epoch: status.epoch) }

    package func start() {
        let keeper = Thread { [self] in self.keep() }
        keeper.name = "capsule-lease"
        keeper.start()
        let watchdog = Thread { [self] in self.watch() }
        watchdog.name = "capsule-lease-dog"
        watchdog.start()
    }

    /// Stops renewing; with `release`, gives the lease up so the standby takes over at once.
    package func stop(release: Bool) {
        let wasActive = state.withLock { state in
            state.stopped = true
            return state.status.active
        }
        if release && wasActive {
            _ = try? store.autocommit { db in try BrokerLease.release(db, holder: holder) }
            logger.info("Released the broker lease.", metadata: ["lease.holder": "\(holder)"])
        }
    }

    /// Gives the lease up and reports it lost (the broker could not start serving after winning it).
    package func abandon(_ reason: String) {
        _ = try? store.autocommit { db in try BrokerLease.release(db, holder: holder) }
        lose(reason)
    }

    private func keep() {
        while !state.withLock({ $0.stopped || $0.lost }) {
            let sent = clock.now
            do {
                // Outside a transaction: a renewal left unanswered when this process freezes or
                // restarts cannot hold the lease row's lock against the standby.
                let (held, current) = try store.autocommit { db in
                    try BrokerLease.acquire(db, holder: holder, endpoint: endpoint, seconds: seconds)
                }
                var lostTo: String?
                state.withLock { state in
                    state.status.problem = nil
                    if held, let current {
                        if !state.status.active {
                            state.status.active = true
                            state.status.epoch = current.epoch
                        }
                        state.deadline = sent.advanced(by: .milliseconds(Int64(seconds * 1000)))
                        state.status.activeEndpoint = endpoint
                    } else {
                        if state.status.active { lostTo = current?.holder ?? "nobody" }
                        state.status.activeEndpoint = (current?.remainingSeconds ?? -1) > 0 ? current?.endpoint : nil
                    }
                }
                if let lostTo { lose("another broker (\(lostTo)) holds the lease") }
            } catch {
                state.withLock { $0.status.problem = "\(error)" }
                logger.warning("Could not check the broker lease.", metadata: ["error": "\(error)"])
            }
            let active = state.withLock { $0.status.active }
            let pause = active ? seconds / 4 : min(0.25, seconds / 4)
            Thread.sleep(forTimeInterval: pause)
        }
    }

    private func watch() {
        while !state.withLock({ $0.stopped || $0.lost }) {
            let lapsed = state.withLock { state in
                state.status.active && (state.deadline.map { clock.now >= $0 } ?? false)
            }
            if lapsed {
                lose("the lease could not be renewed within \(seconds) s (is the store reachable?)")
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func lose(_ reason: String) {
        let first = state.withLock { state in
            defer { state.lost = true }
            return !state.lost && !state.stopped
        }
        guard first else { return }
        logger.error(
            "Lost the broker lease; this broker stops serving.",
            metadata: ["lease.holder": "\(holder)", "reason": "\(reason)"]
        )
        onLost(reason)
    }
}

/// Starts this process again from its own executable, with the same arguments: how a broker that
/// lost its lease stops serving at once (every socket and in-memory state goes with the old image)
/// and comes back as a standby that reloads everything from the store when it wins the lease again.
package enum BrokerRestart {
    package static func now() -> Never {
        // Without this the old image's store connections (postgres-nio's sockets are not
        // close-on-exec) would stay open, unread, in the new one, and a transaction left open on
        // one of them would hold its locks (the lease row's among them) as long as the process lives.
        OpenDescriptors.closeOnExec()
        let arguments = CommandLine.arguments
        var pointers = arguments.map { strdup($0) }
        pointers.append(nil)
        execv("/proc/self/exe", pointers)
        // exec failed: exit, and let the supervisor (systemd, the test) start it again.
        _exit(75)
    }
}
