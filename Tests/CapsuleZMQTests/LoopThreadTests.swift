import CapsuleZMQ
import Foundation
import Synchronization
import Testing

final class CountingCore: LoopCore {
    let socket: ZMQSocket
    var received: [String] = []
    var ticks = 0
    /// The thread that created the core (and so owns its sockets).
    let owner = pthread_self()
    let shutDown: Flag

    init(loop: PollLoop, shutDown: Flag) throws {
        self.shutDown = shutDown
        socket = try ZMQSocket(context: loop.context, type: .pull, lingerMilliseconds: 0)
        try socket.bind("inproc://loop-test")
        loop.register(socket) { [unowned self] in
            while let message = try? self.socket.receive() {
                self.received.append(String(decoding: message.frames[0], as: UTF8.self))
            }
        }
        loop.every(.milliseconds(10)) { [unowned self] in self.ticks += 1 }
    }

    func shutdown() {
        socket.close()
        shutDown.set()
    }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

struct LoopThreadTests {
    @Test func postedJobsRunOnTheLoopThreadAndStopClosesSockets() async throws {
        let context = ZMQContext()
        let flag = Flag()
        let thread = LoopThread<CountingCore>(name: "loop-test", context: context) { loop in
            try CountingCore(loop: loop, shutDown: flag)
        }
        let running = Task { try await thread.run() }

        // A job reports what it saw on the loop thread, through a checked continuation.
        let seen: (Bool, Int) = await withCheckedContinuation { continuation in
            thread.post { core in
                continuation.resume(returning: (pthread_equal(pthread_self(), core.owner) != 0, core.received.count))
            }
        }
        #expect(seen.0, "a posted job ran on another thread than the one that owns the sockets")
        #expect(seen.1 == 0)

        // A socket on another thread feeds the loop's PULL.
        let push = try ZMQSocket(context: context, type: .push, lingerMilliseconds: 0)
        try push.connect("inproc://loop-test")
        for word in ["a", "b", "c"] { try push.send([Data(word.utf8)], dontWait: false) }
        var received: [String] = []
        for _ in 0..<200 where received.count < 3 {
            received = await withCheckedContinuation { continuation in
                thread.post { core in continuation.resume(returning: core.received) }
            }
            if received.count < 3 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(received == ["a", "b", "c"])
        push.close()

        thread.stop()
        try await running.value
        #expect(flag.isSet)
    }

    @Test func setupFailureIsThrownFromRun() async {
        let context = ZMQContext()
        let thread = LoopThread<CountingCore>(name: "failing", context: context) { _ in
            throw ZMQError(code: EADDRINUSE, operation: "bind test")
        }
        await #expect(throws: ZMQError.self) { try await thread.run() }
    }

    @Test func cancellingTheTaskStopsTheLoop() async throws {
        let context = ZMQContext()
        let flag = Flag()
        let thread = LoopThread<CountingCore>(name: "cancel-test", context: context) { loop in
            try CountingCore(loop: loop, shutDown: flag)
        }
        let running = Task { try await thread.run() }
        // The core's 10 ms timer fires on the loop thread: ask until it has ticked a few times
        // (a bounded wait, not a measurement).
        var ticked = 0
        for _ in 0..<500 where ticked < 3 {
            ticked = await withCheckedContinuation { continuation in
                thread.post { core in continuation.resume(returning: core.ticks) }
            }
            if ticked < 3 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(ticked >= 3, "the loop's timer never fired")
        running.cancel()
        try await running.value
        #expect(flag.isSet)
    }

    @Test func aLoopRunsOnceASecondRunThrows() async throws {
        let context = ZMQContext()
        let flag = Flag()
        let thread = LoopThread<CountingCore>(name: "run-twice", context: context) { loop in
            try CountingCore(loop: loop, shutDown: flag)
        }
        let running = Task { try await thread.run() }
        // Wait until the first run is on its thread.
        await withCheckedContinuation { continuation in thread.post { _ in continuation.resume() } }
        let error = await #expect(throws: ZMQError.self) { try await thread.run() }
        #expect(error?.code == EALREADY)
        thread.stop()
        try await running.value
        #expect(flag.isSet)
        // Not after the first ended either: a stopped loop stays stopped.
        await #expect(throws: ZMQError.self) { try await thread.run() }
    }
}
