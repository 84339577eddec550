import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleTestSupport
import Foundation
import GRDB
import Testing

/// Fault injection with real processes and real signals (`kill -9`), then row counts in the stores.
///
/// Sizes come from CAPSULE_FAULT_SERVICES × CAPSULE_FAULT_ROUNDS (default 500 × 20, about 10,000
/// events, for `make test`); `scripts/fault-tests.sh` runs 1,000 × 125 (over 125,000 events).
@Suite(.serialized)
struct FaultEndToEndTests {
    static let services = Int(ProcessInfo.processInfo.environment["CAPSULE_FAULT_SERVICES"] ?? "") ?? 500
    static let rounds = Int(ProcessInfo.processInfo.environment["CAPSULE_FAULT_ROUNDS"] ?? "") ?? 20

    /// A raw agent with `services` services whose health flips every round: one transition per
    /// service per round, journalled by the aggregator and stored by the audit writer.
    final class Storm {
        let peer: RawPeer
        let agentId: String
        let codes: [String]
        var round = 0

        init(cluster: Cluster, services: Int) throws {
            peer = try RawPeer(cluster: cluster)
            let token = try cluster.mintToken(agentCode: "storm")
            agentId = try peer.hello(code: "storm", token: token).get()
            codes = (0..<services).map { "storm-\($0)" }
            try peer.openPublisher()
            let manifests = codes.map { ServiceManifest(code: $0, name: $0, version: "1", runtime: "raw") }
            // The storm counts only once the aggregator holds the report (its SUB is subscribed): a PUB
            // drops what it sends before that, so the first rounds would go uncounted.
            let report = ServiceReport(agentId: agentId, agentCode: "storm", services: manifests)
            try cluster.waitFor("the aggregator to hold the storm's \(services) services") {
                try peer.publish(topic: Topic.report(report.agentId), .serviceReport, report)
                let summary = try cluster.ctlJSON(StatusSummary.self, ["status", "--summary"])
                return (summary?.totalServices ?? 0) >= services
            }
        }

        /// One heartbeat that flips every service (UP on even rounds, DEGRADED on odd ones).
        func next() throws {
            try peer.heartbeat(
                agentId: agentId,
                code: "storm",
                services: codes,
                health: round % 2 == 0 ? .up : .degraded
            )
            round += 1
        }
    }

    struct Counts: CustomStringConvertible {
        var sent: Int
        var stored: Int
        var distinct: Int
        var minSeq: Int
        var maxSeq: Int
        var duplicates: Int { stored - distinct }
        var lost: Int { sent - distinct }
        var description: String { "sent=\(sent) stored=\(stored) duplicated=\(duplicates) lost=\(lost)" }
    }

    static func read<T>(_ url: URL, _ body: (Database) throws -> T) throws -> T {
        var configuration = Configuration()
        configuration.readonly = true
        // A daemon just restarted may hold the write lock while it recovers its WAL: wait, as the daemons do.
        configuration.busyMode = .timeout(5)
        let queue = try DatabaseQueue(path: url.path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read(body)
    }

    /// Events the publisher journalled vs what the audit store holds for it.
    static func counts(_ cluster: Cluster, publisher: String) throws -> Counts {
        // The journal's position: its newest row, or what it remembers after pruning every row.
        let sent = try read(cluster.home.appendingPathComponent("data/\(publisher).sqlite")) { db in
            let newest = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM journal") ?? 0
            let pruned =
                try db.tableExists("journal_meta")
                ? Int(try String.fetchOne(db, sql: "SELECT value FROM journal_meta WHERE key = 'lastSeq'") ?? "0") ?? 0
                : 0
            return max(newest, pruned)
        }
        let audit = cluster.home.appendingPathComponent("data/audit.sqlite")
        guard FileManager.default.fileExists(atPath: audit.path) else {
            return Counts(sent: sent, stored: 0, distinct: 0, minSeq: 0, maxSeq: 0)
        }
        return try read(audit) { db in
            // The file appears before the audit writer's migration has created its tables.
            guard try db.tableExists("audit_event") else {
                return Counts(sent: sent, stored: 0, distinct: 0, minSeq: 0, maxSeq: 0)
            }
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS d, COALESCE(MIN(seq), 0) AS lo, COALESCE(MAX(seq), 0) AS hi
                    FROM audit_event WHERE publisher = ?
                    """,
                arguments: [publisher]
            )!
            return Counts(sent: sent, stored: row["n"], distinct: row["d"], minSeq: row["lo"], maxSeq: row["hi"])
        }
    }

    /// Per subject, every transition starts where the previous one ended: nothing doubled, nothing missed.
    static func brokenChains(_ cluster: Cluster) throws -> [String] {
        try read(cluster.home.appendingPathComponent("data/audit.sqlite")) { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT subject, fromStatus, toStatus FROM audit_event
                    WHERE publisher = 'aggregator' AND action = 'service.transition' ORDER BY subject, seq
                    """
            )
            var last: [String: String] = [:]
            var broken: [String] = []
            for row in rows {
                let subject: String = row["subject"]
                let from: String? = row["fromStatus"]
                if let previous = last[subject], previous != from {
                    broken.append("\(subject): \(previous) then \(from ?? "null")")
                }
                last[subject] = row["toStatus"]
            }
            return broken
        }
    }

    /// Waits until the audit store holds everything the publisher journalled; returns the seconds it took.
    static func settle(_ cluster: Cluster, publisher: String, seconds: Double = 120) throws -> Double {
        let started = Date()
        try cluster.waitFor("the audit store to catch up with \(publisher)", seconds: seconds) {
            let counts = try Self.counts(cluster, publisher: publisher)
            return counts.sent > 0 && counts.distinct == counts.sent
        }
        return Date().timeIntervalSince(started)
    }

    private func runStorm(
        _ cluster: Cluster,
        killing victim: String,
        restart: () throws -> Void
    ) throws -> (kills: Int, seconds: Double) {
        let storm = try Storm(cluster: cluster, services: Self.services)
        let started = Date()
        let killRounds = Set([1, 2, 3, 4].map { Self.rounds * $0 / 5 })
        var kills = 0
        var down = false
        var restartAt = -1
        for round in 0..<Self.rounds {
            if killRounds.contains(round) && !down {
                cluster.stop(victim, signal: SIGKILL)
                kills += 1
                down = true
                restartAt = round + 2
            }
            if down && round >= restartAt {
                try restart()
                down = false
            }
            try storm.next()
            Thread.sleep(forTimeInterval: 0.15)
        }
        if down { try restart() }
        return (kills, Date().timeIntervalSince(started))
    }

    @Test func auditWriterKilledRepeatedlyStoresEveryEventExactlyOnce() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let (kills, duration) = try runStorm(cluster, killing: "audit") { try cluster.startAudit() }
            // The aggregator may still be working through the last heartbeats (a loaded machine): the
            // count is taken once it has journalled every round.
            try cluster.waitFor("the aggregator to journal every round", seconds: 60) {
                try Self.counts(cluster, publisher: "aggregator").sent >= Self.services * Self.rounds
            }
            let recovery = try Self.settle(cluster, publisher: "aggregator")
            let counts = try Self.counts(cluster, publisher: "aggregator")
            print(
                "fault[audit kill -9 ×\(kills)]: \(counts) storm=\(String(format: "%.1f", duration))s recovery=\(String(format: "%.1f", recovery))s"
            )
            #expect(counts.sent >= Self.services * Self.rounds)
            #expect(counts.stored == counts.sent)
            #expect(counts.duplicates == 0)
            #expect(counts.lost == 0)
            #expect(counts.minSeq == 1 && counts.maxSeq == counts.sent)
            #expect(try Self.brokenChains(cluster).isEmpty)
            let broker = try Self.counts(cluster, publisher: "broker")
            #expect(broker.lost == 0 && broker.duplicates == 0, "broker events: \(broker)")
        }
    }

    @Test func aggregatorKilledRepeatedlyNeitherDuplicatesNorMissesTransitions() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let (kills, duration) = try runStorm(cluster, killing: "aggregator") { try cluster.startAggregator() }
            let recovery = try Self.settle(cluster, publisher: "aggregator")
            let counts = try Self.counts(cluster, publisher: "aggregator")
            print(
                "fault[aggregator kill -9 ×\(kills)]: \(counts) storm=\(String(format: "%.1f", duration))s recovery=\(String(format: "%.1f", recovery))s"
            )
            #expect(counts.stored == counts.sent)
            #expect(counts.duplicates == 0)
            #expect(counts.lost == 0)
            let broken = try Self.brokenChains(cluster)
            #expect(broken.isEmpty, "transition chains broken: \(broken.prefix(5))")
        }
    }

    @Test func brokerKilledWithCommandsPendingEndsEachCommandOnceAndRunsNoneTwice() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            let executions = cluster.home.appendingPathComponent("executions.log")
            try cluster.startWithDemoService(extra: ["--executions-file", executions.path])

            var ids: [String] = []
            let decoder = Cluster.ctlDecoder
            for _ in 0..<12 {
                let created = try cluster.ctl([
                    "action", "run", "billing-bridge", "slow-task", "--payload", #"{"ms":1500}"#, "--no-wait", "--json",
                ])
                #expect(created.exitCode == 0, "\(created.stderr)")
                ids.append(try decoder.decode(CommandRecord.self, from: Data(created.stdout.utf8)).id)
            }
            let killedAt = Date()
            cluster.stop("broker", signal: SIGKILL)
            Thread.sleep(forTimeInterval: 1)
            try cluster.startBroker()
            var final: [CommandRecord] = []
            try cluster.waitFor("every command terminal after the broker restart", seconds: 90) {
                final = try cluster.ctlJSON([CommandRecord].self, ["commands", "--limit", "100"]) ?? []
                return ids.allSatisfy { id in final.first { $0.id == id }?.status.isTerminal == true }
            }
            let recovery = Date().timeIntervalSince(killedAt)
            let ran = ((try? String(contentsOf: executions, encoding: .utf8)) ?? "").split(separator: "\n").map(
                String.init
            )
            let succeeded = final.filter { ids.contains($0.id) && $0.status == .succeeded }.count
            print(
                "fault[broker kill -9 with \(ids.count) commands pending]: succeeded=\(succeeded) executions=\(ran.count) distinct=\(Set(ran).count) recovery=\(String(format: "%.1f", recovery))s"
            )
            #expect(Set(ran).count == ran.count, "a command ran twice on the agent")
            #expect(Set(ran).isSubset(of: Set(ids)))
            #expect(succeeded == ids.count)
            try cluster.waitFor("terminal events audited") {
                let terminal = try cluster.audit(action: "command.").filter {
                    ["command.succeeded", "command.failed", "command.expired", "command.cancelled"].contains($0.action)
                }
                return ids.allSatisfy { id in terminal.filter { $0.subject == "command:\(id)" }.count == 1 }
            }
            let broker = try Self.counts(cluster, publisher: "broker")
            #expect(broker.lost == 0 && broker.duplicates == 0, "broker events: \(broker)")
        }
    }

    @Test func aLateAuditWriterReceivesTheHistoryItMissed() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.setHealth("UP")
            try cluster.startBroker()
            try cluster.startAggregator()
            try cluster.startDemoService()
            try cluster.waitFor("billing-bridge HEALTHY") {
                try cluster.status(of: "billing-bridge")?.status == "HEALTHY"
            }
            try cluster.setHealth("DEGRADED")
            try cluster.waitFor("billing-bridge UNHEALTHY") {
                try cluster.status(of: "billing-bridge")?.status == "UNHEALTHY"
            }

            try cluster.startAudit()
            let recovery = try Self.settle(cluster, publisher: "aggregator", seconds: 60)
            _ = try Self.settle(cluster, publisher: "broker", seconds: 60)
            let transitions = try cluster.audit(subject: "service:billing-bridge", action: "service.transition").map {
                "\($0.from ?? "-")→\($0.to ?? "-")"
            }
            print("fault[late audit join]: history \(transitions) recovered in \(String(format: "%.1f", recovery))s")
            #expect(transitions.contains("HEALTHY→UNHEALTHY"))
            #expect(transitions.contains { $0.hasSuffix("→HEALTHY") })
            #expect(!(try cluster.audit(action: "agent.registered").isEmpty))
        }
    }

    /// docs/reliability.md, "Incarnations": after the audit store is reset, the journals no longer
    /// hold what was already acknowledged. The audit writer passes over that hole once, records it,
    /// and goes on acknowledging, so the journals are pruned again.
    @Test func aResetAuditStorePassesOverWhatTheJournalsPrunedAndRecordsTheHole() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()
            _ = try Self.settle(cluster, publisher: "broker", seconds: 60)
            let journal = cluster.home.appendingPathComponent("data/broker.sqlite")
            let pruned = {
                try Self.read(journal) { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journal") ?? 0 }
            }
            try cluster.waitFor("the broker's journal pruned after acknowledgements") { try pruned() == 0 }

            cluster.stop("audit", signal: SIGKILL)
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(
                    at: cluster.home.appendingPathComponent("data/audit.sqlite\(suffix)")
                )
            }
            #expect(try cluster.ctl(["token", "create", "--name", "after-reset"]).exitCode == 0)
            try cluster.startAudit()
            try cluster.waitFor("the hole recorded") { !(try cluster.audit(action: "audit.journal_hole")).isEmpty }
            let holes = try cluster.audit(action: "audit.journal_hole")
            #expect(holes.count <= 2, "one record per publisher journal, not one per event: \(holes.count)")
            #expect(holes.allSatisfy { $0.result == .failure && $0.subject.hasPrefix("journal:") })
            try cluster.waitFor("the event written after the reset stored") {
                !(try cluster.audit(action: "token.created")).isEmpty
            }
            // Acknowledgements resumed: the broker prunes its journal again.
            try cluster.waitFor("the broker's journal pruned again") { try pruned() == 0 }
        }
    }
}
