import CapsuleAggregator
import CapsuleDomain
import CapsulePostgres
import CapsuleProtocol
import CapsuleStore
import CapsuleTestSupport
import Foundation
import GRDB
import Testing

/// Runs `body` with a fresh directory under the system temp dir and removes it afterwards.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "capsule-aggregator-tests-\(UUID().uuidString)"
    )
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// Saves the board's dirty state and journals `transitions`, in one transaction, as the aggregator does.
@discardableResult
func commit(
    _ store: AggregatorStore,
    _ journal: EventJournal,
    _ board: inout StatusBoard,
    _ transitions: [Transition]
) throws -> [AuditEvent] {
    let agents = Dictionary(uniqueKeysWithValues: board.dirtyAgents.map { ($0, board.agents[$0]) })
    let services = Dictionary(uniqueKeysWithValues: board.dirtyServices.map { ($0, board.services[$0]) })
    let times = AggregatorStore.Times(
        aged: board,
        agentsSavedWhole: agents.keys,
        servicesSavedWhole: services.keys
    )
    let manifests = board.dirtyManifests
    board.clearDirty()
    return try store.database.write { db in
        try AggregatorStore.save(db, agents: agents, services: services, manifestChanged: manifests)
        try AggregatorStore.save(db, times: times)
        return try transitions.map { transition in
            try journal.append(
                db,
                AuditEvent(
                    publisher: "",
                    seq: 0,
                    at: transition.at,
                    action: "\(transition.kind.rawValue).transition",
                    subject: transition.subject,
                    actor: "system",
                    from: transition.from,
                    to: transition.to,
                    reason: transition.reason
                )
            )
        }
    }
}

struct AggregatorStoreTests {
    @Test(arguments: StoreBackend.all) func commitThenLoadRebuildsTheSameBoard(backend: StoreBackend) throws {
        try StoreFixture.with(backend) { fixture in
            let store = AggregatorStore(database: try fixture.open(AggregatorStore.schema))
            let journal = try EventJournal(publisher: AggregatorStore.publisher, store: store.database)

            var board = StatusBoard(thresholds: boardThresholds)
            let manifest = ServiceManifest(code: "api", name: "API", version: "1", runtime: "swift")
            var transitions = board.apply(
                ServiceReport(agentId: "agt_1", agentCode: "edge-1", services: [manifest]),
                now: t0
            )
            transitions += board.apply(heartbeat([sample("api", .up)]), now: t0)
            transitions += board.sweep(now: at(3.5))
            let events = try commit(store, journal, &board, transitions)

            #expect(events.count == transitions.count)
            #expect(events.map(\.seq) == Array(1...UInt64(transitions.count)))
            #expect(events.allSatisfy { $0.publisher == AggregatorStore.publisher && $0.actor == "system" })
            #expect(events.map(\.action) == transitions.map { "\($0.kind.rawValue).transition" })
            #expect(events.map(\.subject) == transitions.map(\.subject))
            #expect(events.map(\.to) == transitions.map(\.to))
            #expect(events.last?.reason == "no heartbeat for 3 s")

            // Simulated restart: a new store on the same file, a board rebuilt from it.
            let reopened = AggregatorStore(database: try fixture.open(AggregatorStore.schema))
            let loaded = try reopened.load()
            var rebuilt = StatusBoard(thresholds: boardThresholds, agents: loaded.agents, services: loaded.services)
            #expect(rebuilt.agents == board.agents)
            #expect(rebuilt.services == board.services, "the manifest, stored apart, comes back with the state")
            #expect(rebuilt.sweep(now: at(3.5)).isEmpty, "a restart neither replays nor invents transitions")
            #expect(changes(rebuilt.sweep(now: at(5))) == changes(board.sweep(now: at(5))))
            #expect(
                try EventJournal(publisher: AggregatorStore.publisher, store: reopened.database).lastSeq
                    == UInt64(transitions.count)
            )
        }
    }

    @Test(arguments: StoreBackend.all) func commitReplacesStateAndContinuesTheSequence(backend: StoreBackend) throws {
        try StoreFixture.with(backend) { fixture in
            let store = AggregatorStore(database: try fixture.open(AggregatorStore.schema))
            let journal = try EventJournal(publisher: AggregatorStore.publisher, store: store.database)
            var board = StatusBoard(thresholds: boardThresholds)
            let first = board.apply(heartbeat([sample("api", .up)]), now: t0)
            try commit(store, journal, &board, first)
            let second = board.apply(heartbeat([sample("api", .down)]), now: at(1))
            let events = try commit(store, journal, &board, second)
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

    /// A heartbeat that changes nothing but times is saved as times alone (no state rewritten), and
    /// a restart reads those times back.
    @Test(arguments: StoreBackend.all) func timesAloneAreSavedAndReadBack(backend: StoreBackend) throws {
        try StoreFixture.with(backend) { fixture in
            let store = AggregatorStore(database: try fixture.open(AggregatorStore.schema))
            let journal = try EventJournal(publisher: AggregatorStore.publisher, store: store.database)
            var board = StatusBoard(thresholds: boardThresholds)
            try commit(store, journal, &board, board.apply(heartbeat([sample("api", .up)]), now: t0))
            let stateBefore = try store.database.read { db in
                try String.fetchOne(db, sql: "SELECT state FROM service_state WHERE code = 'api'")
            }

            #expect(board.apply(heartbeat([sample("api", .up)]), now: at(2)).isEmpty)
            #expect(board.dirtyAgents.isEmpty && board.dirtyServices.isEmpty)
            #expect(board.agedAgents == ["agt_1"] && board.agedServices == ["api"])
            try commit(store, journal, &board, [])

            let stateAfter = try store.database.read { db in
                try String.fetchOne(db, sql: "SELECT state FROM service_state WHERE code = 'api'")
            }
            #expect(stateAfter == stateBefore, "the state itself was not rewritten")
            let loaded = try store.load()
            #expect(loaded.agents.first?.lastHeartbeatAt == at(2))
            #expect(loaded.services.first?.healthAt == at(2))
            #expect(loaded.services.first?.status == .healthy)
        }
    }

    @Test(arguments: StoreBackend.all) func aForgottenServiceIsDeleted(backend: StoreBackend) throws {
        try StoreFixture.with(backend) { fixture in
            let store = AggregatorStore(database: try fixture.open(AggregatorStore.schema))
            let journal = try EventJournal(publisher: AggregatorStore.publisher, store: store.database)
            var board = StatusBoard(thresholds: boardThresholds)
            try commit(
                store,
                journal,
                &board,
                board.apply(heartbeat([sample("api", .up), sample("db", .up)]), now: t0)
            )
            board.forget(service: "db")
            try commit(store, journal, &board, [])
            #expect(try store.load().services.map(\.code) == ["api"])
        }
    }

    /// On PostgreSQL: a store at its first step ("v1") holding state migrates to today's steps, the
    /// state intact, and the time columns are then written and read.
    @Test func postgresStoreAtV1MigratesToTheCurrentSchema() throws {
        try StoreFixture.with(.postgres) { fixture in
            let location = try #require(fixture.postgres)
            let old = PostgresStore(location: location, schema: location.schema("aggregator"))
            try PostgresMigrator.migrate(old, schema: AggregatorStore.schema, upTo: "v1")
            let state = ServiceState(code: "api", agentId: "agt_1", healthAt: t0, status: .healthy, reason: "health UP")
            try old.write { db in
                try db.execute(
                    sql: "INSERT INTO service_state (code, state) VALUES ('api', ?)",
                    arguments: [String(decoding: WireCodec.json(state), as: UTF8.self)]
                )
            }
            old.close()

            let store = AggregatorStore(database: try fixture.open(AggregatorStore.schema))
            defer { store.database.close() }
            let migrated = try #require(store.database as? PostgresStore)
            #expect(try PostgresMigrator.applied(migrated) == AggregatorStore.postgresMigrations.map(\.id))
            #expect(try store.load().services.first?.healthAt == t0, "no time column yet: the state's own time")
            var times = AggregatorStore.Times()
            times.services = [("api", at(4), nil)]
            try store.database.write { db in try AggregatorStore.save(db, times: times) }
            #expect(try store.load().services.first?.healthAt == at(4))
            #expect(try store.load().services.first?.status == .healthy)
        }
    }

    @Test func migratorStaysCompatibleWithAV1Database() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("old.sqlite")
            let queue = try DatabaseQueue(path: url.path)
            try AggregatorStore.migrator.migrate(queue, upTo: "v1")
            let old = ServiceState(
                code: "api",
                agentId: "agt_1",
                manifest: ServiceManifest(code: "api", name: "API", version: "7", runtime: "go"),
                status: .healthy,
                reason: "health UP"
            )
            try queue.write { db in
                try db.execute(sql: "INSERT INTO agent_state (agentId, state) VALUES ('agt_x', 'not json')")
                try db.execute(
                    sql: "INSERT INTO service_state (code, state) VALUES ('api', ?)",
                    arguments: [String(decoding: WireCodec.json(old), as: UTF8.self)]
                )
            }
            try queue.close()

            let store = try AggregatorStore(url: url)
            let schema = try (store.database as! SQLiteStore).pool.read { db in
                (
                    missing: try ["agent_state", "service_state", "journal"].filter { try !db.tableExists($0) },
                    completed: try AggregatorStore.migrator.hasCompletedMigrations(db),
                    applied: try AggregatorStore.migrator.appliedIdentifiers(db)
                )
            }
            #expect(schema.missing.isEmpty, "missing tables: \(schema.missing)")
            #expect(schema.completed)
            #expect(schema.applied == Set(AggregatorStore.migrator.migrations))
            // A row that does not decode is skipped, not fatal; a v1 manifest moved to its own table.
            #expect(try store.load().agents.isEmpty)
            #expect(try store.load().services.first?.manifest?.version == "7")
        }
    }
}
