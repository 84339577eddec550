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
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("capsule-store-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// Runs `body` with a fresh BrokerStore on `backend` (a file in a temporary folder, or schemas of
/// their own in the test cluster), removed afterwards.
func withBrokerStore<T>(_ backend: StoreBackend = .sqlite, _ body: (BrokerStore, StoreFixture) throws -> T) throws -> T
{
    try StoreFixture.with(backend) { fixture in
        let store = BrokerStore(database: try fixture.open(BrokerStore.schema))
        defer { store.database.close() }
        return try body(store, fixture)
    }
}

let now = Date(timeIntervalSince1970: 1_700_000_000)

func command(
    _ id: String = "cmd_1",
    payload: JSONValue = .object(["replicas": .number(3)]),
    expiresIn: Double = 300
) -> CommandRecord {
    CommandRecord(
        id: id,
        serviceCode: "billing",
        agentId: "agt_1",
        action: "scale",
        payload: payload,
        status: .pending,
        actor: "operator:ann",
        createdAt: now,
        updatedAt: now,
        expiresAt: now.addingTimeInterval(expiresIn)
    )
}

/// Enrols `key` as agent `code` the way the broker does: with a fresh registration token (the store
/// compares hashes only, so any unique string serves as the hash here). Refusals are thrown.
@discardableResult
func enroll(_ store: BrokerStore, code: String, key: String, at time: Date = now) throws -> BrokerStore.Enrolment {
    let hash = "hash-\(code)-\(key)-\(UUID().uuidString)"
    return try store.database.write { db in
        _ = try BrokerStore.createToken(
            db,
            name: code,
            hash: hash,
            agentCode: nil,
            expiresAt: time.addingTimeInterval(3600),
            actor: "operator:ann",
            actorRole: .operator,
            now: time
        )
        return try BrokerStore.enroll(db, code: code, publicKey: key, tokenHash: hash, services: [], now: time).get()
    }
}

struct BrokerStoreEnrollmentTests {
    @Test(arguments: StoreBackend.all) func enrollmentReturnsAnIdAndStoresTheKeyAndTheAgent(
        backend: StoreBackend
    ) throws {
        try withBrokerStore(backend) { store, _ in
            let enrolled = try enroll(store, code: "edge-1", key: "KEY-A")
            #expect(enrolled.agentId.hasPrefix("agt_"))
            #expect(enrolled.agentId.count == 16)
            #expect(enrolled.code == "edge-1")
            #expect(enrolled.tokenId.hasPrefix("tok_"))
            #expect(!enrolled.reenrolled)

            let principal = try #require(try store.principal(publicKey: "KEY-A"))
            #expect(principal.kind == .agent)
            #expect(principal.identity == enrolled.agentId)
            #expect(principal.state == .active)
            #expect(principal.sender == enrolled.agentId)
            #expect(principal.auditName == "agent:\(enrolled.agentId)")

            let agent = try #require(try store.agent(code: "edge-1"))
            #expect(agent.id == enrolled.agentId)
            #expect(agent.publicKey == "KEY-A")
            #expect(agent.state == .active)
            #expect(agent.createdAt == now)
            #expect(try store.agentCodes() == [enrolled.agentId: "edge-1"])

            let token = try #require(try store.tokens(now: now, before: nil, limit: 10).first)
            #expect(token.status == .used)
            #expect(token.usedBy == enrolled.agentId)
        }
    }

    @Test(arguments: StoreBackend.all) func enrollingTheSameCodeWithAnotherKeyIsAConflict(backend: StoreBackend) throws
    {
        try withBrokerStore(backend) { store, _ in
            let first = try enroll(store, code: "edge-1", key: "KEY-A")
            let error = try #require(throws: StoreError.self) {
                try enroll(store, code: "edge-1", key: "KEY-B", at: now.addingTimeInterval(1))
            }
            #expect(error.code == .codeTaken)
            #expect(error.message.contains(first.agentId), "names the existing agent: \(error.message)")
            #expect(error.message.contains("edge-1"))
            #expect(error.description.hasPrefix("agent_code_taken: "))
            #expect(error.body.code.rawValue == "agent_code_taken")

            // Nothing of the refused enrolment was kept.
            #expect(try store.principal(publicKey: "KEY-B") == nil)
            #expect(try store.agents(after: nil, limit: 10).map(\.id) == [first.agentId])
        }
    }

    @Test(arguments: StoreBackend.all) func distinctCodesGetDistinctIdsAndAgentsPageByCode(backend: StoreBackend) throws
    {
        try withBrokerStore(backend) { store, _ in
            let b = try enroll(store, code: "edge-b", key: "KEY-B")
            let a = try enroll(store, code: "edge-a", key: "KEY-A")
            let c = try enroll(store, code: "edge-c", key: "KEY-C")
            #expect(Set([a.agentId, b.agentId, c.agentId]).count == 3)
            #expect(
                try store.agents(after: nil, limit: 10).map(\.code) == ["edge-a", "edge-b", "edge-c"],
                "ordered by code"
            )
            #expect(try store.agents(after: nil, limit: 2).map(\.code) == ["edge-a", "edge-b"])
            #expect(try store.agents(after: "edge-b", limit: 2).map(\.code) == ["edge-c"])
            try store.database.write { db in _ = try BrokerStore.setAgentState(db, agentId: b.agentId, to: .disabled) }
            #expect(try store.agents(after: nil, limit: 10, states: [.disabled, .revoked]).map(\.code) == ["edge-b"])
        }
    }

    @Test(arguments: StoreBackend.all) func reusingAnEnrolledKeyForAnotherCodeIsRefused(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            try enroll(store, code: "edge-1", key: "KEY-A")
            #expect(throws: (any Error).self) {
                try enroll(store, code: "edge-2", key: "KEY-A")
            }
            #expect(try store.agents(after: nil, limit: 10).count == 1)
        }
    }

    @Test(arguments: StoreBackend.all) func stateChangesAndForgettingARevokedAgent(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            let agent = try enroll(store, code: "edge-1", key: "KEY-A").agentId
            _ = try store.database.write { db in
                try BrokerStore.claimServices(
                    db,
                    agentId: agent,
                    manifests: [ServiceManifest(code: "api", name: "API", version: "1", runtime: "go")],
                    now: now
                )
            }
            let refusal = try store.database.write { db in try BrokerStore.forgetAgent(db, agentId: agent) }
            guard case .failure(let notRevoked) = refusal else {
                Issue.record("an active agent cannot be forgotten")
                return
            }
            #expect(notRevoked.message.contains("revoke it first"))
            #expect(
                try store.database.write { db in try BrokerStore.setAgentState(db, agentId: agent, to: .disabled) }
                    == .success(.active)
            )
            #expect(
                try store.database.write { db in try BrokerStore.setAgentState(db, agentId: agent, to: .revoked) }
                    == .success(.disabled)
            )
            guard
                case .failure(let final) = try store.database.write({ db in
                    try BrokerStore.setAgentState(db, agentId: agent, to: .active)
                })
            else {
                Issue.record("revocation is final")
                return
            }
            #expect(final.code == .finalState)
            #expect(
                try store.database.write { db in try BrokerStore.forgetAgent(db, agentId: agent) } == .success(["api"])
            )
            #expect(try store.agent(id: agent) == nil)
            #expect(try store.services().isEmpty)
            #expect(
                try store.principal(publicKey: "KEY-A")?.state == .revoked,
                "the revoked key stays known, so ZAP keeps refusing it"
            )
        }
    }

    @Test(arguments: StoreBackend.all) func upsertedPrincipalsRoundTrip(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            let ann = Principal(publicKey: "OP-1", kind: .operator, identity: "ann", role: .owner, createdAt: now)
            try store.upsert(ann)
            try store.upsert(Principal(publicKey: "SVC-1", kind: .service, identity: "aggregator", createdAt: now))
            #expect(try store.principal(publicKey: "OP-1") == ann)
            #expect(ann.sender == "operator:ann")

            var demoted = ann
            demoted.role = .viewer
            demoted.state = .disabled
            try store.upsert(demoted)
            #expect(try store.principal(publicKey: "OP-1")?.role == .viewer)
            #expect(try store.principal(publicKey: "OP-1")?.state == .disabled)
            #expect(try store.principals().count == 2)
        }
    }

    @Test(arguments: StoreBackend.all) func operatorsAreAddedOnceRemovedAndPaged(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            for name in ["cy", "ann", "bo"] {
                _ = try store.database.write { db in
                    try BrokerStore.addOperator(db, name: name, publicKey: "KEY-\(name)", role: .viewer, now: now).get()
                }
            }
            let clash = try store.database.write { db in
                try BrokerStore.addOperator(db, name: "ann", publicKey: "KEY-other", role: .owner, now: now)
            }
            guard case .failure(let conflict) = clash else {
                Issue.record("a second active ann must be refused")
                return
            }
            #expect(conflict.code == .conflict)
            #expect(try store.operators(after: nil, limit: 2).map(\.name) == ["ann", "bo"])
            #expect(try store.operators(after: ("bo", "KEY-bo"), limit: 2).map(\.name) == ["cy"])
            let removed = try store.database.write { db in try BrokerStore.removeOperator(db, name: "bo").get() }
            #expect(removed.state == .revoked)
            #expect(try store.principal(publicKey: "KEY-bo")?.state == .revoked)
        }
    }
}

struct BrokerStoreServiceTests {
    @Test(arguments: StoreBackend.all) func claimsAreRefusedForServicesOwnedByAnotherAgent(backend: StoreBackend) throws
    {
        try withBrokerStore(backend) { store, _ in
            let a = try enroll(store, code: "edge-a", key: "KEY-A").agentId
            let b = try enroll(store, code: "edge-b", key: "KEY-B").agentId
            let billing = ServiceManifest(
                code: "billing",
                name: "Billing",
                version: "1",
                runtime: "swift",
                configs: [ConfigItem(key: "dsn", value: .string("secret-dsn"), sensitive: true)]
            )
            #expect(
                try store.database.write { db in
                    try BrokerStore.claimServices(db, agentId: a, manifests: [billing.sanitized], now: now)
                }.isEmpty
            )

            var updated = billing
            updated.version = "2"
            #expect(
                try store.database.write { db in
                    try BrokerStore.claimServices(db, agentId: a, manifests: [updated.sanitized], now: now)
                }.isEmpty,
                "the owner may update"
            )

            let refused = try store.database.write { db in
                try BrokerStore.claimServices(
                    db,
                    agentId: b,
                    manifests: [billing, ServiceManifest(code: "search", name: "S", version: "1", runtime: "go")],
                    now: now
                )
            }
            #expect(refused == ["service billing is owned by agent \(a)"])

            // A report that claims another agent's service is refused whole: search was not taken either.
            let services = try store.services().sorted { $0.code < $1.code }
            #expect(services.map(\.code) == ["billing"])
            #expect(services.map(\.agentId) == [a])
            #expect(services.first?.manifest.version == "2")
            #expect(
                try store.database.write { db in
                    try BrokerStore.claimServices(
                        db,
                        agentId: b,
                        manifests: [ServiceManifest(code: "search", name: "S", version: "1", runtime: "go")],
                        now: now
                    )
                }.isEmpty
            )
            #expect(try store.services().map(\.agentId).sorted() == [a, b].sorted())
            #expect(services.first?.manifest.configs.first?.value == nil, "stored manifests are sanitised")
        }
    }
}

struct BrokerStoreCommandTests {
    @Test(arguments: StoreBackend.all) func commandsPersistWithTheirSealedPayloadUntilTerminal(
        backend: StoreBackend
    ) throws {
        try withBrokerStore(backend) { store, _ in
            var record = command(
                payload: Redactor.redact(.object(["replicas": .number(3), "password": .string("hunter2")]))
            )
            try store.database.write { db in try BrokerStore.insert(db, record, sealedPayload: Data("opaque".utf8)) }
            #expect(try store.command(id: "cmd_1")?.payload["password"] == .string(Redactor.placeholder))
            #expect(try store.liveCommands().map(\.0.id) == ["cmd_1"])
            #expect(try store.liveCommands().first?.1 == Data("opaque".utf8))

            record.status = .running
            record.startedAt = now.addingTimeInterval(1)
            record.deliveries = 2
            try store.database.write { db in try BrokerStore.update(db, record) }
            #expect(
                try store.database.read { db in try BrokerStore.sealedPayload(db, id: "cmd_1") } == Data("opaque".utf8),
                "kept while live"
            )

            record.status = .succeeded
            record.success = true
            record.message = "scaled"
            record.data = .object(["key": .string("[ONE-TIME]")])
            record.completedAt = now.addingTimeInterval(3)
            try store.database.write { db in
                try BrokerStore.update(
                    db,
                    record,
                    sealedOneTime: Data("sealed-key".utf8),
                    oneTimeExpiresAt: now.addingTimeInterval(600)
                )
            }
            #expect(
                try store.database.read { db in try BrokerStore.sealedPayload(db, id: "cmd_1") } == nil,
                "dropped when terminal"
            )
            let stored = try #require(try store.command(id: "cmd_1"))
            #expect(stored.status == .succeeded)
            #expect(stored.startedAt == now.addingTimeInterval(1))
            #expect(stored.completedAt == now.addingTimeInterval(3))
            #expect(stored.durationMs == 3_000)
            #expect(stored.deliveries == 2)
            #expect(try store.liveCommands().isEmpty)
            #expect(try store.oneTimeSecrets().map(\.id) == ["cmd_1"])
            try store.database.write { db in try BrokerStore.clearOneTime(db, id: "cmd_1") }
            #expect(try store.oneTimeSecrets().isEmpty)
        }
    }

    @Test(arguments: StoreBackend.all) func commandsPageNewestFirstWithFilters(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            try store.database.write { db in
                for index in 0..<5 {
                    var record = command("cmd_\(index)")
                    record.createdAt = now.addingTimeInterval(Double(index))
                    record.status = index % 2 == 0 ? .pending : .failed
                    try BrokerStore.insert(db, record, sealedPayload: nil)
                }
            }
            let first = try store.commands(before: nil, limit: 2)
            #expect(first.map(\.id) == ["cmd_4", "cmd_3"])
            let second = try store.commands(before: (first[1].createdAt.storeValue, first[1].id), limit: 10)
            #expect(second.map(\.id) == ["cmd_2", "cmd_1", "cmd_0"], "no overlap, nothing missing")
            #expect(try store.commands(before: nil, limit: 10, status: .failed).map(\.id) == ["cmd_3", "cmd_1"])
            #expect(try store.commands(before: nil, limit: 10, service: "other").isEmpty)
        }
    }

    @Test(arguments: StoreBackend.all) func duplicateCommandIdIsRefused(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            try store.database.write { db in try BrokerStore.insert(db, command(), sealedPayload: nil) }
            #expect(throws: (any Error).self) {
                try store.database.write { db in try BrokerStore.insert(db, command(), sealedPayload: nil) }
            }
        }
    }
}

struct BrokerStoreMigrationTests {
    /// A database created by the first release (only migration "v1") opens with today's store and ends up
    /// with every migration applied, its data intact. Stays valid as migrations are added.
    @Test func databaseAtV1OpensWithTheCurrentStore() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("broker.sqlite")
            let queue = try DatabaseQueue(path: url.path)
            try BrokerStore.migrator.migrate(queue, upTo: "v1")
            try queue.write { db in
                #expect(try BrokerStore.migrator.appliedIdentifiers(db) == ["v1"])
                try db.execute(
                    sql:
                        "INSERT INTO principal (publicKey, kind, identity, role, state, createdAt) VALUES ('K', 'agent', 'agt_old', NULL, 'ACTIVE', 0)"
                )
                try db.execute(
                    sql: "INSERT INTO agent (id, code, publicKey, createdAt) VALUES ('agt_old', 'edge-old', 'K', 0)"
                )
                try db.execute(sql: "INSERT INTO journal (seq, event) VALUES (7, '{}')")
            }
            try queue.close()

            let store = try BrokerStore(url: url)
            let schema = try (store.database as! SQLiteStore).pool.read { db in
                (
                    missing: try ["principal", "agent", "service", "command", "journal"].filter {
                        try !db.tableExists($0)
                    },
                    completed: try BrokerStore.migrator.hasCompletedMigrations(db),
                    applied: try BrokerStore.migrator.appliedIdentifiers(db)
                )
            }
            #expect(schema.missing.isEmpty, "missing tables: \(schema.missing)")
            #expect(schema.completed)
            #expect(schema.applied == Set(BrokerStore.migrator.migrations))
            #expect(try store.agent(code: "edge-old")?.id == "agt_old")
            let journal = try EventJournal(publisher: BrokerStore.publisher, store: store.database)
            #expect(journal.lastSeq == 7, "the old sequence continues")
            #expect(journal.incarnation == "", "a journal from before incarnations keeps the legacy one")

            // And it keeps working in the migrated token table.
            let enrolled = try enroll(store, code: "edge-new", key: "K2")
            #expect(try store.agent(id: enrolled.agentId)?.code == "edge-new")
        }
    }

    /// The same on PostgreSQL: a store at its first schema step ("v1") holding data migrates to
    /// today's steps when today's broker opens it, data intact; a second open applies nothing.
    @Test func postgresStoreAtV1MigratesToTheCurrentSchema() throws {
        try StoreFixture.with(.postgres) { fixture in
            let location = try #require(fixture.postgres)
            let old = PostgresStore(location: location, schema: location.schema("broker"))
            try PostgresMigrator.migrate(old, schema: BrokerStore.schema, upTo: "v1")
            #expect(try PostgresMigrator.applied(old) == ["v1"])
            try old.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO principal (publicKey, kind, identity, role, state, createdAt) VALUES ('K', 'agent', 'agt_old', NULL, 'ACTIVE', 0)"
                )
                try db.execute(
                    sql: "INSERT INTO agent (id, code, publicKey, createdAt) VALUES ('agt_old', 'edge-old', 'K', 0)"
                )
                try db.execute(sql: "INSERT INTO journal (seq, event) VALUES (7, '{}')")
            }
            #expect(throws: (any Error).self, "no lease table yet") {
                try old.read { db in try SQLRow.fetchAll(db, sql: "SELECT * FROM broker_lease") }
            }
            old.close()

            let store = BrokerStore(database: try fixture.open(BrokerStore.schema))
            defer { store.database.close() }
            let migrated = try #require(store.database as? PostgresStore)
            #expect(try PostgresMigrator.applied(migrated) == BrokerStore.postgresMigrations.map(\.id))
            #expect(
                try store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM broker_lease") } == 0
            )
            #expect(try store.agent(code: "edge-old")?.id == "agt_old")
            let journal = try EventJournal(publisher: BrokerStore.publisher, store: store.database)
            #expect(journal.lastSeq == 7, "the old sequence continues")
            let enrolled = try enroll(store, code: "edge-new", key: "K2")
            #expect(try store.agent(id: enrolled.agentId)?.code == "edge-new")

            let again = BrokerStore(database: try fixture.open(BrokerStore.schema))
            defer { again.database.close() }
            #expect(try again.agents(after: nil, limit: 10).map(\.code) == ["edge-new", "edge-old"])
        }
    }

    /// A store written by a newer release (a migration this one does not know) is refused, naming it.
    @Test func postgresStoreFromANewerReleaseIsRefused() throws {
        try StoreFixture.with(.postgres) { fixture in
            let store = try fixture.open(BrokerStore.schema)
            try store.write { db in
                try db.execute(sql: "INSERT INTO capsule_migration (id, appliedAt) VALUES ('v99-from-the-future', 0)")
            }
            store.close()
            #expect { try fixture.open(BrokerStore.schema) } throws: { error in
                (error as? StoreError)?.code == .corrupt && "\(error)".contains("v99-from-the-future")
            }
        }
    }

    @Test func openingTwiceIsIdempotent() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("nested/deeper/broker.sqlite")
            try enroll(try BrokerStore(url: url), code: "edge-1", key: "K")
            let again = try BrokerStore(url: url)
            #expect(try again.agents(after: nil, limit: 10).map(\.code) == ["edge-1"])
            let attributes = try FileManager.default.attributesOfItem(atPath: url.deletingLastPathComponent().path)
            #expect((attributes[.posixPermissions] as? Int) == 0o700, "the state directory is private")
        }
    }
}

struct BrokerStoreRemanenceTests {
    /// Design §5 / Database+Open.swift: once a command is terminal its payload is redacted, and
    /// `secure_delete` is meant to keep redacted-away values from lingering on disk. In WAL mode the
    /// pre-redaction page stays in the `-wal` file until the WAL is checkpointed and overwritten.
    @Test
    func redactedPayloadDoesNotLingerInTheWriteAheadLog() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("broker.sqlite")
            let store = try BrokerStore(url: url)
            // The raw payload only ever reaches the store sealed; the clear column holds it redacted.
            var record = command(payload: Redactor.redact(.object(["password": .string("hunter2-plaintext")])))
            try store.database.write { db in try BrokerStore.insert(db, record, sealedPayload: Data("sealed".utf8)) }
            record.status = .succeeded
            try store.database.write { db in try BrokerStore.update(db, record) }
            var leaking: [String] = []
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
                let bytes = try Data(contentsOf: dir.appendingPathComponent(name))
                if bytes.range(of: Data("hunter2-plaintext".utf8)) != nil { leaking.append(name) }
            }
            #expect(leaking.isEmpty, "the secret is still on disk in \(leaking)")
            withExtendedLifetime(store) {}
        }
    }
}
