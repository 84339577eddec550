import CapsuleDomain
import CapsulePostgres
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleTestSupport
import Foundation
import Testing

/// The PostgreSQL server goes away for a while (CAPSULE_OUTAGE_SECONDS, 5 s here; the script runs
/// 60 s) under a broker, an aggregator and an audit writer that all keep their stores in it:
/// status keeps being answered from memory, writes are refused as `unavailable` naming the store,
/// nothing is lost, and everything catches up when the server is back.
@Suite(.serialized)
struct StoreOutageEndToEndTests {
    static let outage = Double(ProcessInfo.processInfo.environment["CAPSULE_OUTAGE_SECONDS"] ?? "") ?? 5

    @Test func losingThePostgreSQLServerRefusesWritesServesStatusAndCatchesUp() async throws {
        try await blocking {
            // A server of its own: stopping the shared one would take the other tests' stores down too.
            let postgres = try PostgresTestCluster.start()
            defer { postgres.destroy() }
            let store = postgres.url + "?timeout=2"
            let cluster = try Cluster()
            try cluster.setHealth("UP")
            try cluster.startBroker(extra: ["--store", store])
            try cluster.start(
                "aggregator",
                "capsule-aggregator",
                cluster.commonArgs + cluster.thresholds + ["--store", store]
            )
            try cluster.start("audit", "capsule-audit", cluster.commonArgs + ["--store", store])
            try cluster.waitFor("operator access") { try cluster.ctl(["token", "list"]).exitCode == 0 }
            try cluster.startDemoService()
            try cluster.waitFor("billing-bridge HEALTHY") {
                try cluster.status(of: "billing-bridge")?.status == "HEALTHY"
            }

            try postgres.stop()
            let stoppedAt = Date()
            // Status comes from the aggregator's memory, and follows the service while the store is away.
            try cluster.setHealth("DEGRADED")
            try cluster.waitFor("billing-bridge UNHEALTHY while the store is down", seconds: Self.outage) {
                try cluster.status(of: "billing-bridge")?.status == "UNHEALTHY"
            }
            // A write is refused, saying which store is unavailable.
            let refused = try cluster.ctl(["token", "create", "--name", "during-outage", "--json"])
            #expect(refused.exitCode != 0)
            #expect(refused.stderr.contains("unavailable"), "\(refused.stderr)")
            #expect(refused.stderr.contains("postgres://"), "the error names the store: \(refused.stderr)")
            // For the rest of the outage, status keeps being answered.
            var answered = 0
            var unanswered = 0
            while Date().timeIntervalSince(stoppedAt) < Self.outage {
                if try cluster.status(of: "billing-bridge")?.status == "UNHEALTHY" {
                    answered += 1
                } else {
                    unanswered += 1
                }
                Thread.sleep(forTimeInterval: 0.5)
            }
            #expect(
                unanswered == 0,
                "status went unanswered \(unanswered) times during the outage (answered \(answered))"
            )
            try postgres.restart()
            let restartedAt = Date()

            // Back: writes work again, and the transition made during the outage reaches the audit store once.
            try cluster.waitFor("writes accepted again", seconds: 30) {
                try cluster.ctl(["token", "create", "--name", "after-outage", "--json"]).exitCode == 0
            }
            let writable = Date().timeIntervalSince(restartedAt)
            let location = try #require(PostgresLocation(store))
            let aggregator = PostgresStore(location: location, schema: "aggregator")
            let audit = PostgresStore(location: location, schema: "audit")
            defer {
                aggregator.close()
                audit.close()
            }
            var counts = (rows: 0, distinct: 0, incarnations: 0)
            var journalled = 0
            try cluster.waitFor("the audit store to hold the aggregator's journal", seconds: 30) {
                journalled = try FailoverEndToEndTests.journalLastSeq(aggregator)
                counts = try FailoverEndToEndTests.auditCounts(audit, publisher: "aggregator")
                let degraded = try audit.read { db in
                    try Int.fetchOne(
                        db,
                        sql:
                            "SELECT COUNT(*) FROM audit_event WHERE subject = 'service:billing-bridge' AND toStatus = 'UNHEALTHY'"
                    )
                }
                return counts.distinct >= journalled && (degraded ?? 0) >= 1
            }
            print(
                String(
                    format:
                        "outage: PostgreSQL stopped %.0f s; status answered from memory %d times, %d not; writes refused as unavailable; writes accepted %.1f s after the restart, audit caught up %.1f s after it: aggregator journal %d events, audit rows %d, lost %d, duplicated %d",
                    Self.outage,
                    answered,
                    unanswered,
                    writable,
                    Date().timeIntervalSince(restartedAt),
                    journalled,
                    counts.rows,
                    journalled - counts.distinct,
                    counts.rows - counts.distinct
                )
            )
            #expect(counts.rows == journalled, "aggregator events stored once each: \(counts), journal \(journalled)")
            #expect(counts.distinct == journalled)
            cluster.stopAll()
        }
    }
}
