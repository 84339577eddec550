import CapsuleConsole
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Synchronization
import Testing

/// The pool's threads: off Swift's cooperative pool, at most `size` of them, one client each.
struct BrokerPoolTests {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    /// A client to a port nobody listens on: connecting is lazy, so it is made at once and never used.
    static func client() throws -> RequestClient {
        let server = try CurveKeyPair.generate()
        return try RequestClient(
            endpoint: "tcp://127.0.0.1:9",
            keyPair: try CurveKeyPair.generate(),
            serverKey: server.publicKey,
            sender: "operator:test",
            timeout: 0.2
        )
    }

    @Test func jobsRunOnThePoolsOwnThreadsAtMostSizeAtOnce() async throws {
        let made = Counter()
        let pool = BrokerPool(name: "test-pool", size: 2) {
            made.value.add(1, ordering: .relaxed)
            return try Self.client()
        }
        defer { pool.shutdown() }
        let running = Counter()
        let most = Counter()
        let names = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await pool.run { _ in
                        let now = running.value.add(1, ordering: .relaxed).newValue
                        _ = most.value.max(now, ordering: .relaxed)
                        Thread.sleep(forTimeInterval: 0.05)
                        running.value.subtract(1, ordering: .relaxed)
                        return BrokerPool.currentPool ?? "not a pool thread"
                    }
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(BrokerPool.currentPool == nil, "a test task is not on a pool thread")
        #expect(names.count == 6)
        #expect(names.allSatisfy { $0 == "test-pool" }, "\(names)")
        #expect(most.value.load(ordering: .relaxed) <= 2)
        #expect(made.value.load(ordering: .relaxed) <= 2, "one client per thread, kept")
    }

    @Test func aClientThatCannotBeMadeFailsTheJobAndIsTriedAgain() async throws {
        let attempts = Counter()
        let pool = BrokerPool(name: "test-fail", size: 1) {
            if attempts.value.add(1, ordering: .relaxed).newValue == 1 {
                throw ErrorBody(.unreachable, "no broker yet")
            }
            return try Self.client()
        }
        defer { pool.shutdown() }
        await #expect(throws: ErrorBody.self) { try await pool.run { _ in 1 } }
        #expect(try await pool.run { _ in 2 } == 2)
    }

    @Test func aTimeoutComesBackAsTheBrokersErrorShape() async throws {
        let pool = BrokerPool(name: "test-timeout", size: 1) { try Self.client() }
        defer { pool.shutdown() }
        do {
            _ = try await pool.call(BrokerOps.SessionWhoami.self, NoParams(), timeout: 0.3)
            Issue.record("nobody listens there")
        } catch let error as ErrorBody {
            #expect(error.code == .timeout)
        }
    }
}
