import CapsuleAggregator
import CapsuleDomain
import CapsuleProtocol
import Foundation
import GRDB
import Testing

/// Runs `body` with a fresh directory under the system temp dir and removes it afterwards.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("capsule-aggregator-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

struct AggregatorStoreTests {
    @Test func commitThenLoadRebuildsTheSameBoard() throws {
        try withTemporaryDirectory { dir in
            let store = try AggregatorStore(url: dir.appendingPathComponent("aggregator.sqlite"))

            var board = StatusBoard(thresholds: boardThresholds)
            var transitions = board.apply(heartbeat([sample("api", .up), sample("worker", .down, details: .object(["n": .number(1)]))]), now: t0)
            transitions += board.sweep(now: at(3.5))
            let events = try store.commit(
                agents: board.dirtyAgents.compactMap { board.agents[$0] },
                services: board.dirtyServices.compactMap { board.services[$0] },
                transitions: transitions)
            board.clearDirty()

            #expect(events.count == transitions.count)
            #expect(events.map(\.seq) == Array(1...UInt64(transitions.count)))
            #expect(events.allSatisfy { $0.publisher == AggregatorStore.publisher && $0.actor == "system" })
            #expect(events.map(\.action) == transitions.map { "\($0.kind.rawValue).transition" })
            #expect(events.map(\.subject) == transitions.map(\.subject))
            #expect(events.map(\.to) == transitions.map(\.to))
            #expect(events.last?.reason == "no heartbeat for 3 s")
            #expect(try store.journalLastSeq() == UInt64(transitions.count))
            #expect(try store.journalEvents(after: 0, limit: 100) == events)

            // Simulated restart: a new store on the same file, a board rebuilt from it.
            let reopened = try AggregatorStore(url: dir.appendingPathComponent("aggregator.sqlite"))
            let loaded = try reopened.load()
            var rebuilt = StatusBoard(thresholds: boardThresholds, agents: loaded.agents, services: loaded.services)
            #expect(rebuilt.agents == board.agents)
            #expect(rebuilt.services == board.services)
            #expect(rebuilt.sweep(now: at(3.5)).isEmpty, "a restart neither replays nor invents transitions")
            #expect(changes(rebuilt.sweep(now: at(5))) == changes(board.sweep(now: at(5))))
        }
    }

    @Test func commitReplacesStateAndContinuesTheSequence() throws {
        try withTemporaryDirectory { dir in
            let store = try AggregatorStore(url: dir.appendingPathComponent("a.sqlite"))
            var board = StatusBoard(thresholds: boardThresholds)
            let first = board.apply(heartbeat([sample("api", .up)]), now: t0)
            _ = try store.commit(agents: Array(board.agents.values), services: Array(board.services.values), transitions: first)
            let second = board.apply(heartbeat([sample("api", .down)]), now: at(1))
            let events = try store.commit(agents: Array(board.agents.values), services: Array(board.services.values), transitions: second)
            #expect(events.map(\.seq) == [3])
            #expect(events.first?.from == "HEALTHY")
            #expect(events.first?.to == "UNHEALTHY")

            let loaded = try store.load()
            #expect(loaded.agents.count == 1)
            #expect(loaded.services.count == 1)
            #expect(loaded.services.first?.status == .unhealthy)
            #expect(loaded.services.first?.health?.status == .down)
        }
    }

    @Test func pruneKeepsTheNewestEventSoTheSequenceNeverRestarts() throws {
        try withTemporaryDirectory { dir in
            let store = try AggregatorStore(url: dir.appendingPathComponent("a.sqlite"))
            var board = StatusBoard(thresholds: boardThresholds)
            let transitions = board.apply(heartbeat([sample("a", .up), sample("b", .up), sample("c", .up)]), now: t0)
            _ = try store.commit(agents: [], services: [], transitions: transitions)
            #expect(try store.journalLastSeq() == 4)

            try store.pruneJournal(upTo: 2)
            #expect(try store.journalEvents(after: 0, limit: 100).map(\.seq) == [3, 4])
            try store.pruneJournal(upTo: 100)
            #expect(try store.journalEvents(after: 0, limit: 100).map(\.seq) == [4])
            #expect(try store.journalLastSeq() == 4)

            let next = try store.commit(agents: [], services: [], transitions: board.sweep(now: at(5)))
            #expect(next.first?.seq == 5)
        }
    }

    @Test func migratorStaysCompatibleWithAV1Database() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("old.sqlite")
            let queue = try DatabaseQueue(path: url.path)
            try AggregatorStore.migrator.migrate(queue, upTo: "v1")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO agent_state (agentId, state) VALUES ('agt_x', 'not json')")
            }
            try queue.close()

            let store = try AggregatorStore(url: url)
            let schema = try store.pool.read { db in
                (
                    missing: try ["agent_state", "service_state", "journal"].filter { try !db.tableExists($0) },
                    completed: try AggregatorStore.migrator.hasCompletedMigrations(db),
                    applied: try AggregatorStore.migrator.appliedIdentifiers(db)
                )
            }
            #expect(schema.missing.isEmpty, "missing tables: \(schema.missing)")
            #expect(schema.completed)
            #expect(schema.applied == Set(AggregatorStore.migrator.migrations))
            // A row that does not decode is skipped, not fatal.
            #expect(try store.load().agents.isEmpty)
        }
    }
}
