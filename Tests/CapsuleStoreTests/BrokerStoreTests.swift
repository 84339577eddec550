import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
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

/// Runs `body` with a BrokerStore in a fresh temporary directory.
func withBrokerStore<T>(_ body: (BrokerStore, URL) throws -> T) throws -> T {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("state/broker.sqlite")
        return try body(try BrokerStore(url: url), url)
    }
}

let now = Date(timeIntervalSince1970: 1_700_000_000)

func command(_ id: String = "cmd_1", payload: JSONValue = .object(["replicas": .number(3)]), expiresIn: Double = 300) -> CommandRecord {
    CommandRecord(id: id, serviceCode: "billing", agentId: "agt_1", action: "scale", payload: payload, status: .pending,
                  actor: "operator:ann", createdAt: now, updatedAt: now, expiresAt: now.addingTimeInterval(expiresIn))
}

/// Enrols `key` as agent `code` the way the broker does: with a fresh registration token (the store
/// compares hashes only, so any unique string serves as the hash here).
@discardableResult
func enroll(_ store: BrokerStore, code: String, key: String, at time: Date = now) throws -> (agentId: String, events: [AuditEvent]) {
    let hash = "hash-\(code)-\(key)-\(UUID().uuidString)"
    _ = try store.createToken(name: code, hash: hash, agentCode: nil, expiresAt: time.addingTimeInterval(3600), actor: "operator:ann",
                              actorRole: .operator, now: time)
    return try store.enroll(code: code, publicKey: key, tokenHash: hash, services: [], now: time)
}

struct BrokerStoreEnrollmentTests {
    @Test func enrollmentReturnsAnIdAndJournalsAgentRegistered() throws {
        try withBrokerStore { store, _ in
            let enrolled = try enroll(store, code: "edge-1", key: "KEY-A")
            #expect(enrolled.agentId.hasPrefix("agt_"))
            #expect(enrolled.agentId.count == 16)

            // token.created is seq 1; the enrolment journals agent.registered (2) and token.used (3).
            let event = enrolled.events[0]
            #expect(event.seq == 2)
            #expect(event.publisher == BrokerStore.publisher)
            #expect(event.action == "agent.registered")
            #expect(event.subject == "agent:\(enrolled.agentId)")
            #expect(event.actor == "agent:edge-1")
            #expect(event.to == "PENDING")
            #expect(event.at == now)
            #expect(event.details?["agentCode"] == .string("edge-1"))

            #expect(enrolled.events.map(\.action) == ["agent.registered", "token.used"])
            #expect(try store.journalLastSeq() == 3)
            #expect(try store.journalEvents(after: 1, limit: 10) == enrolled.events)

            let principal = try #require(try store.principal(publicKey: "KEY-A"))
            #expect(principal.kind == .agent)
            #expect(principal.identity == enrolled.agentId)
            #expect(principal.state == .active)
            #expect(principal.sender == enrolled.agentId)

            let agent = try #require(try store.agent(code: "edge-1"))
            #expect(agent.id == enrolled.agentId)
            #expect(agent.publicKey == "KEY-A")
            #expect(agent.state == .active)
            #expect(agent.createdAt == now)
        }
    }

    @Test func enrollingTheSameCodeWithAnotherKeyIsAConflict() throws {
        try withBrokerStore { store, _ in
            let first = try enroll(store, code: "edge-1", key: "KEY-A")
            let error = try #require(throws: StoreError.self) {
                try enroll(store, code: "edge-1", key: "KEY-B", at: now.addingTimeInterval(1))
            }
            #expect(error.code == .codeTaken)
            #expect(error.message.contains(first.agentId), "names the existing agent: \(error.message)")
            #expect(error.message.contains("edge-1"))
            #expect(error.description.hasPrefix("agent_code_taken: "))

            // Nothing of the refused enrolment was kept (only the second token's creation, seq 4).
            #expect(try store.principal(publicKey: "KEY-B") == nil)
            #expect(try store.agents().map(\.id) == [first.agentId])
            #expect(try store.journalLastSeq() == 4)
        }
    }

    @Test func distinctCodesGetDistinctIdsAndConsecutiveSequenceNumbers() throws {
        try withBrokerStore { store, _ in
            let a = try enroll(store, code: "edge-b", key: "KEY-B")
            let b = try enroll(store, code: "edge-a", key: "KEY-A")
            #expect(a.agentId != b.agentId)
            #expect((a.events + b.events).map(\.seq) == [2, 3, 5, 6])
            #expect(try store.journalEvents(after: 0, limit: 10).map(\.seq) == [1, 2, 3, 4, 5, 6], "no gaps")
            #expect(try store.agents().map(\.code) == ["edge-a", "edge-b"], "ordered by code")
        }
    }

    @Test func reusingAnEnrolledKeyForAnotherCodeIsRefused() throws {
        try withBrokerStore { store, _ in
            try enroll(store, code: "edge-1", key: "KEY-A")
            #expect(throws: (any Error).self) {
                try enroll(store, code: "edge-2", key: "KEY-A")
            }
            #expect(try store.agents().count == 1)
            #expect(try store.journalLastSeq() == 4, "only the second token's creation was journalled")
        }
    }

    @Test func upsertedPrincipalsRoundTrip() throws {
        try withBrokerStore { store, _ in
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
}

struct BrokerStoreServiceTests {
    @Test func claimsAreRefusedForServicesOwnedByAnotherAgent() throws {
        try withBrokerStore { store, _ in
            let a = try enroll(store, code: "edge-a", key: "KEY-A").agentId
            let b = try enroll(store, code: "edge-b", key: "KEY-B").agentId
            let billing = ServiceManifest(code: "billing", name: "Billing", version: "1", runtime: "swift",
                                          configs: [ConfigItem(key: "dsn", value: .string("secret-dsn"), sensitive: true)])
            #expect(try store.claimServices(agentId: a, manifests: [billing], now: now).isEmpty)

            var updated = billing
            updated.version = "2"
            #expect(try store.claimServices(agentId: a, manifests: [updated], now: now).isEmpty, "the owner may update")

            let refused = try store.claimServices(
                agentId: b, manifests: [billing, ServiceManifest(code: "search", name: "S", version: "1", runtime: "go")], now: now)
            #expect(refused == ["service billing is owned by agent \(a)"])

            let services = try store.services().sorted { $0.code < $1.code }
            #expect(services.map(\.code) == ["billing", "search"])
            #expect(services.map(\.agentId) == [a, b])
            #expect(services.first?.manifest.version == "2")
            #expect(services.first?.manifest.configs.first?.value == nil, "stored manifests are sanitised")
        }
    }
}

struct BrokerStoreCommandTests {
    @Test func pendingRunningSucceededWithJournalEvents() throws {
        try withBrokerStore { store, _ in
            let created = try store.create(command(payload: .object(["replicas": .number(3), "password": .string("hunter2")])),
                                           sealedPayload: Data("opaque".utf8))
            #expect(created.action == "command.created")
            #expect(created.subject == "command:cmd_1")
            #expect(created.to == "PENDING")
            #expect(created.actor == "operator:ann")
            #expect(created.details?["payload"]?["password"] == .string(Redactor.placeholder), "the journal never sees the secret")

            // The stored payload is redacted from the start; the raw one travels only sealed.
            #expect(try store.command(id: "cmd_1")?.payload["password"] == .string(Redactor.placeholder))
            #expect(try store.command(id: "cmd_1")?.payload["replicas"] == .number(3))
            #expect(try store.sealedPayload(id: "cmd_1") == Data("opaque".utf8))
            #expect(try store.liveCommands(agentId: "agt_1").map(\.id) == ["cmd_1"])

            guard case .moved(let running, let started) = try store.apply(.acknowledged, to: "cmd_1", actor: "agent:agt_1", now: now.addingTimeInterval(1)) else {
                Issue.record("acknowledged should move PENDING to RUNNING")
                return
            }
            #expect(running.status == .running)
            #expect(started.action == "command.running")
            #expect(started.from == "PENDING")
            #expect(started.to == "RUNNING")
            #expect(started.result == .success)
            #expect(try store.command(id: "cmd_1")?.status == .running)
            #expect(try store.command(id: "cmd_1")?.payload["password"] == .string(Redactor.placeholder), "still redacted while live")

            guard case .unchanged(let same) = try store.apply(.acknowledged, to: "cmd_1", actor: "agent:agt_1", now: now.addingTimeInterval(2)) else {
                Issue.record("a repeated acknowledgement is unchanged")
                return
            }
            #expect(same.status == .running)

            let result = CommandResult(commandId: "cmd_1", success: true, message: "scaled to 3",
                                       data: .object(["apiKey": .string("k-123"), "replicas": .number(3)]))
            guard case .moved(let done, let succeeded) = try store.apply(
                .succeeded, to: "cmd_1", result: result, actor: "agent:agt_1", now: now.addingTimeInterval(3)) else {
                Issue.record("succeeded should move RUNNING to SUCCEEDED")
                return
            }
            #expect(done.status == .succeeded)
            #expect(succeeded.action == "command.succeeded")
            #expect(succeeded.from == "RUNNING")
            #expect(succeeded.to == "SUCCEEDED")
            #expect(succeeded.reason == "scaled to 3")
            #expect(succeeded.details?["data"]?["apiKey"] == .string(Redactor.placeholder))

            #expect(try store.sealedPayload(id: "cmd_1") == nil, "the sealed raw payload goes when the command ends")
            let stored = try #require(try store.command(id: "cmd_1"))
            #expect(stored.status == .succeeded)
            #expect(stored.success == true)
            #expect(stored.message == "scaled to 3")
            #expect(stored.updatedAt == now.addingTimeInterval(3))
            #expect(stored.payload == .object(["replicas": .number(3), "password": .string(Redactor.placeholder)]))
            #expect(stored.data == .object(["apiKey": .string(Redactor.placeholder), "replicas": .number(3)]))
            #expect(try store.liveCommands(agentId: "agt_1").isEmpty)

            let journal = try store.journalEvents(after: 0, limit: 100)
            #expect(journal.map(\.action) == ["command.created", "command.running", "command.succeeded"])
            #expect(journal.map(\.seq) == [1, 2, 3])
        }
    }

    @Test func terminalPayloadIsRedactedInTheStoredRow() throws {
        try withBrokerStore { store, _ in
            _ = try store.create(command(payload: .object(["db": .object(["password": .string("hunter2")]), "token": .string("tok-9")])))
            _ = try store.apply(.failed, to: "cmd_1", result: CommandResult(commandId: "cmd_1", success: false,
                                                                         error: ErrorBody(code: "boom", message: "it broke")),
                                actor: "agent:agt_1", now: now)
            let raw = try store.pool.read { db in
                try Row.fetchOne(db, sql: "SELECT payload, data, errorCode, errorMessage, status FROM command WHERE id = 'cmd_1'")
            }
            let row = try #require(raw)
            let payload: String = row["payload"]
            #expect(!payload.contains("hunter2"))
            #expect(!payload.contains("tok-9"))
            #expect(payload.contains(Redactor.placeholder))
            #expect(row["status"] as String == "FAILED")
            #expect(row["errorCode"] as String? == "boom")
            #expect(row["errorMessage"] as String? == "it broke")

            let journalText = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT event FROM journal") }.joined()
            #expect(!journalText.contains("hunter2"))
            #expect(!journalText.contains("tok-9"))
        }
    }

    @Test func failedAndExpiredAreFailuresCancelledIsASuccess() throws {
        let expectations: [(CommandEvent, CommandStatus, AuditResult)] = [
            (.failed, .failed, .failure), (.expired, .expired, .failure), (.cancelled, .cancelled, .success),
            (.succeeded, .succeeded, .success),
        ]
        for (event, status, result) in expectations {
            try withBrokerStore { store, _ in
                _ = try store.create(command())
                guard case .moved(let record, let audit) = try store.apply(
                    event, to: "cmd_1", actor: "operator:ann", reason: "because", now: now) else {
                    Issue.record("\(event) on PENDING should move")
                    return
                }
                #expect(record.status == status)
                #expect(audit.action == "command.\(status.rawValue.lowercased())")
                #expect(audit.result == result, "\(event)")
                #expect(audit.reason == "because")
                #expect(audit.from == "PENDING")
            }
        }
    }

    @Test func lateResultOnATerminalCommandIsRejectedAndAudited() throws {
        try withBrokerStore { store, _ in
            _ = try store.create(command())
            _ = try store.apply(.cancelled, to: "cmd_1", actor: "operator:ann", now: now.addingTimeInterval(1))

            let late = CommandResult(commandId: "cmd_1", success: true, message: "done anyway")
            guard case .rejected(let record, let why, let audit) = try store.apply(
                .succeeded, to: "cmd_1", result: late, actor: "agent:agt_1", now: now.addingTimeInterval(2)) else {
                Issue.record("a result after CANCELLED must be rejected")
                return
            }
            #expect(record?.status == .cancelled)
            #expect(why.contains("CANCELLED"))
            let event = try #require(audit)
            #expect(event.action == "command.rejected")
            #expect(event.result == .failure)
            #expect(event.subject == "command:cmd_1")
            #expect(event.actor == "agent:agt_1")
            #expect(event.from == "CANCELLED")
            #expect(event.reason == why)
            #expect(event.details?["event"] == .string("succeeded"))
            #expect(event.seq == 3)

            let stored = try #require(try store.command(id: "cmd_1"))
            #expect(stored.status == .cancelled)
            #expect(stored.message == nil, "the late result is not stored")
            #expect(try store.journalEvents(after: 0, limit: 10).map(\.action) == ["command.created", "command.cancelled", "command.rejected"])
        }
    }

    @Test func unknownCommandIsRejectedWithoutAnEvent() throws {
        try withBrokerStore { store, _ in
            guard case .rejected(let record, let why, let audit) = try store.apply(.acknowledged, to: "nope", actor: "x", now: now) else {
                Issue.record("unknown command should be rejected")
                return
            }
            #expect(record == nil)
            #expect(why == "unknown command nope")
            #expect(audit == nil)
            #expect(try store.journalLastSeq() == 0)
        }
    }

    @Test func expiryDeliveriesAndListing() throws {
        try withBrokerStore { store, _ in
            _ = try store.create(command("cmd_short", expiresIn: 10))
            _ = try store.create(command("cmd_long", expiresIn: 300))
            #expect(try store.dueForExpiry(now: now.addingTimeInterval(9)).isEmpty)
            #expect(try store.dueForExpiry(now: now.addingTimeInterval(10)).map(\.id) == ["cmd_short"])
            #expect(Set(try store.dueForExpiry(now: now.addingTimeInterval(300)).map(\.id)) == ["cmd_short", "cmd_long"])

            _ = try store.apply(.expired, to: "cmd_short", actor: "system", now: now.addingTimeInterval(10))
            #expect(try store.dueForExpiry(now: now.addingTimeInterval(1_000)).map(\.id) == ["cmd_long"], "terminal commands never expire again")

            try store.markDelivered(id: "cmd_long")
            try store.markDelivered(id: "cmd_long")
            #expect(try store.command(id: "cmd_long")?.deliveries == 2)

            #expect(try store.commands(status: .expired).map(\.id) == ["cmd_short"])
            #expect(try store.commands(status: .pending).map(\.id) == ["cmd_long"])
            #expect(try store.commands().count == 2)
            #expect(try store.commands(limit: 1).count == 1)
        }
    }

    @Test func duplicateCommandIdIsRefusedAtomically() throws {
        try withBrokerStore { store, _ in
            _ = try store.create(command())
            #expect(throws: (any Error).self) { try store.create(command()) }
            #expect(try store.journalLastSeq() == 1, "no command.created for the refused insert")
        }
    }
}

struct EventJournalTests {
    func append(_ store: BrokerStore, _ count: Int) throws {
        for index in 0..<count {
            _ = try store.journal { seq in
                AuditEvent(publisher: "ignored", seq: 999, at: now, action: "test.event", subject: "n:\(index)", actor: "system")
            }
        }
    }

    @Test func appendStampsPublisherAndNextSequence() throws {
        try withBrokerStore { store, _ in
            let event = try store.journal { seq in
                AuditEvent(publisher: "someone-else", seq: 0, at: now, action: "agent.enrollment_refused", subject: "s",
                           actor: "key:K", result: .failure, reason: "seq \(seq)")
            }
            #expect(event.publisher == "broker")
            #expect(event.seq == 1)
            #expect(event.reason == "seq 1", "the closure receives the sequence number")
        }
    }

    /// A replay page always fits in one wire message, however heavy the events, and paging by
    /// `after` walks the whole journal.
    @Test func replayPagesStayUnderTheBodyLimit() throws {
        try withBrokerStore { store, _ in
            let heavy = String(repeating: "x", count: 10_000)
            for index in 0..<60 {
                _ = try store.journal { seq in
                    AuditEvent(publisher: "broker", seq: seq, at: now, action: "test.heavy", subject: "n:\(index)", actor: "system",
                               details: .object(["blob": .string(heavy)]))
                }
            }
            var seen: [UInt64] = []
            var after: UInt64 = 0
            while true {
                let page = try store.journalEvents(after: after, limit: 1_000)
                guard let last = page.last?.seq else { break }
                #expect(WireCodec.json(page).count < WireCodec.maxBodyBytes, "a page of \(page.count) events is too big")
                seen += page.map(\.seq)
                after = last
            }
            #expect(seen == Array(1...60), "every event, once, in order")
        }
    }

    @Test func pruneKeepsTheLatest() throws {
        try withBrokerStore { store, _ in
            try append(store, 5)
            try store.pruneJournal(upTo: 2)
            #expect(try store.journalEvents(after: 0, limit: 100).map(\.seq) == [3, 4, 5])
            try store.pruneJournal(upTo: 5)
            #expect(try store.journalEvents(after: 0, limit: 100).map(\.seq) == [5], "the newest event survives")
            #expect(try store.journalLastSeq() == 5)
            try store.pruneJournal(upTo: 1_000)
            #expect(try store.journalEvents(after: 0, limit: 100).map(\.seq) == [5])

            try append(store, 1)
            #expect(try store.journalLastSeq() == 6, "the sequence never restarts after a prune")
            #expect(try store.journalEvents(after: 0, limit: 100).map(\.seq) == [5, 6])
        }
    }

    @Test func eventsAfterAndLimit() throws {
        try withBrokerStore { store, _ in
            try append(store, 6)
            #expect(try store.journalEvents(after: 2, limit: 100).map(\.seq) == [3, 4, 5, 6])
            #expect(try store.journalEvents(after: 2, limit: 2).map(\.seq) == [3, 4])
            #expect(try store.journalEvents(after: 6, limit: 100).isEmpty)
            #expect(try store.journalEvents(after: 0, limit: 100).map(\.subject) == (0..<6).map { "n:\($0)" })
        }
    }

    @Test func emptyJournal() throws {
        try withBrokerStore { store, _ in
            #expect(try store.journalLastSeq() == 0)
            try store.pruneJournal(upTo: 10)
            #expect(try store.journalEvents(after: 0, limit: 10).isEmpty)
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
                try db.execute(sql: "INSERT INTO principal (publicKey, kind, identity, role, state, createdAt) VALUES ('K', 'agent', 'agt_old', NULL, 'ACTIVE', 0)")
                try db.execute(sql: "INSERT INTO agent (id, code, publicKey, createdAt) VALUES ('agt_old', 'edge-old', 'K', 0)")
                try db.execute(sql: "INSERT INTO journal (seq, event) VALUES (7, '{}')")
            }
            try queue.close()

            let store = try BrokerStore(url: url)
            let schema = try store.pool.read { db in
                (
                    missing: try ["principal", "agent", "service", "command", "journal"].filter { try !db.tableExists($0) },
                    completed: try BrokerStore.migrator.hasCompletedMigrations(db),
                    applied: try BrokerStore.migrator.appliedIdentifiers(db)
                )
            }
            #expect(schema.missing.isEmpty, "missing tables: \(schema.missing)")
            #expect(schema.completed)
            #expect(schema.applied == Set(BrokerStore.migrator.migrations))
            #expect(try store.agent(code: "edge-old")?.id == "agt_old")
            #expect(try store.journalLastSeq() == 7)

            // And it keeps working: the next event continues the old sequence.
            // (token.created takes 8; the enrolment journals 9 and 10 in the migrated token table.)
            let enrolled = try enroll(store, code: "edge-new", key: "K2")
            #expect(enrolled.events.map(\.seq) == [9, 10])
        }
    }

    @Test func openingTwiceIsIdempotent() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("nested/deeper/broker.sqlite")
            try enroll(try BrokerStore(url: url), code: "edge-1", key: "K")
            let again = try BrokerStore(url: url)
            #expect(try again.agents().map(\.code) == ["edge-1"])
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
            _ = try store.create(command(payload: .object(["password": .string("hunter2-plaintext")])))
            _ = try store.apply(.succeeded, to: "cmd_1", actor: "agent:agt_1", now: now)
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
