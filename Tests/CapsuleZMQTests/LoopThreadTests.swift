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
        let ticked: Int = await withCheckedContinuation { continuation in
            thread.post { core in continuation.resume(returning: core.ticks) }
        }
        #expect(ticked >= 0)
        running.cancel()
        try await running.value
        #expect(flag.isSet)
    }
}
