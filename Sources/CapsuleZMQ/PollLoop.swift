import CZeroMQ

/// The poll loop of one dedicated thread: the sockets registered here are read only on that thread,
/// and timers fire on it too. Created and used by ``LoopThread``; never shared.
package final class PollLoop {
    private struct Registration {
        let socket: ZMQSocket
        let onReadable: () -> Void
    }

    private struct Timer {
        let interval: Duration
        var due: ContinuousClock.Instant
        let body: () -> Void
    }

    private var registrations: [Registration] = []
    /// Plain descriptors (an `eventfd` of a ``LoopWorker``), polled after the sockets.
    private var descriptors: [(fd: Int32, onReadable: () -> Void)] = []
    private var timers: [Timer] = []
    private var turnEnds: [() -> Void] = []
    /// The poll items, built once and again only after a registration (not on every turn).
    private var poller = ZMQPoller()
    private var wakeIndex = -1
    /// How many sockets the poll items hold (the descriptors follow them).
    private var polledSockets = 0
    private var removals: [ObjectIdentifier] = []
    private let clock = ContinuousClock()
    package let context: ZMQContext

    init(context: ZMQContext) {
        self.context = context
    }

    /// Calls `onReadable` on this thread whenever `socket` has input.
    package func register(_ socket: ZMQSocket, onReadable: @escaping () -> Void) {
        registrations.append(Registration(socket: socket, onReadable: onReadable))
        wakeIndex = -1
    }

    /// Calls `onReadable` on this thread whenever the file descriptor `fd` is readable.
    package func register(fd: Int32, onReadable: @escaping () -> Void) {
        descriptors.append((fd, onReadable))
        wakeIndex = -1
    }

    /// Stops polling `socket` from the next turn on (the caller closes it after this turn).
    package func unregister(_ socket: ZMQSocket) {
        removals.append(ObjectIdentifier(socket))
    }

    /// Calls `body` on this thread every `interval`.
    package func every(_ interval: Duration, _ body: @escaping () -> Void) {
        timers.append(Timer(interval: interval, due: clock.now.advanced(by: interval), body: body))
    }

    /// Calls `body` on this thread at the end of every turn, after handlers and timers: the place to
    /// commit what the turn wrote (group commit) and send what waited for that.
    package func atEndOfTurn(_ body: @escaping () -> Void) {
        turnEnds.append(body)
    }

    /// Runs the end-of-turn hooks now (also called by ``LoopThread`` after posted jobs).
    package func endTurn() {
        for body in turnEnds { body() }
    }

    /// One turn: poll sockets and the wake descriptor, run handlers, then due timers, then the
    /// end-of-turn hooks.
    /// Returns whether the wake descriptor was signalled.
    func turn(wakeFD: Int32, maxWaitMilliseconds: Int) throws(ZMQError) -> Bool {
        if !removals.isEmpty {
            let removed = Set(removals)
            removals.removeAll()
            registrations.removeAll { removed.contains(ObjectIdentifier($0.socket)) }
            wakeIndex = -1
        }
        if wakeIndex < 0 {
            poller.removeAll()
            for registration in registrations { poller.add(registration.socket) }
            polledSockets = registrations.count
            for descriptor in descriptors { poller.add(fd: descriptor.fd) }
            wakeIndex = poller.add(fd: wakeFD)
        }
        var timeout = maxWaitMilliseconds
        let now = clock.now
        for timer in timers {
            let remaining = now.duration(to: timer.due)
            let ms = max(
                0,
                Int(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)
            )
            timeout = min(timeout, ms)
        }
        _ = try poller.poll(timeoutMilliseconds: timeout)
        // Handlers may register more sockets; those are polled from the next turn on.
        let polled = wakeIndex
        let sockets = polledSockets
        for index in 0..<polled where poller.isReadable(index) {
            if index < sockets {
                registrations[index].onReadable()
            } else {
                descriptors[index - sockets].onReadable()
            }
        }
        let after = clock.now
        for index in timers.indices where timers[index].due <= after {
            timers[index].due = after.advanced(by: timers[index].interval)
            timers[index].body()
        }
        endTurn()
        return poller.isReadable(polled)
    }
}
