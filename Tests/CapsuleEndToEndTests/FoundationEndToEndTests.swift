import CapsuleDomain
import CapsuleProtocol
import CapsuleTestSupport
import Foundation
import Testing

/// The whole governance path with the real executables on loopback (issue: foundation).
@Suite(.serialized)
struct FoundationEndToEndTests {
    @Test func serviceLifecycleActionsAndAuditTrail() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.setHealth("UP")
            try cluster.startControlPlane()
            try cluster.startDemoService()

            // UP → HEALTHY.
            try cluster.waitFor("billing-bridge HEALTHY") {
                try cluster.status(of: "billing-bridge")?.status == "HEALTHY"
            }
            let healthy = try #require(try cluster.status(of: "billing-bridge"))
            #expect(healthy.healthStatus == "UP")
            #expect(healthy.agentStatus == "ONLINE")
            #expect(healthy.lastHeartbeatAt != nil)

            // DEGRADED → UNHEALTHY, with the latest health beside the effective status.
            try cluster.setHealth("DEGRADED")
            try cluster.waitFor("billing-bridge UNHEALTHY") {
                try cluster.status(of: "billing-bridge")?.status == "UNHEALTHY"
            }
            #expect(try cluster.status(of: "billing-bridge")?.healthStatus == "DEGRADED")

            // The agent dies: after the offline threshold the service is OFFLINE, with a reason.
            cluster.stop("demo", signal: SIGKILL)
            try cluster.waitFor("billing-bridge OFFLINE") {
                try cluster.status(of: "billing-bridge")?.status == "OFFLINE"
            }
            let offline = try #require(try cluster.status(of: "billing-bridge"))
            #expect(offline.reason.contains("no heartbeat for"))
            #expect(offline.agentStatus == "OFFLINE")

            // The agent restarts and reports UP: HEALTHY again, same agent identity.
            try cluster.setHealth("UP")
            try cluster.startDemoService()
            try cluster.waitFor("billing-bridge HEALTHY again") {
                try cluster.status(of: "billing-bridge")?.status == "HEALTHY"
            }
            #expect(try cluster.status(of: "billing-bridge")?.agentId == healthy.agentId)

            // Every transition is in the audit store exactly once, in order.
            let expected: [(String?, String)] = [
                ("UNKNOWN", "HEALTHY"), ("HEALTHY", "UNHEALTHY"), ("UNHEALTHY", "STALE"),
                ("STALE", "OFFLINE"), ("OFFLINE", "HEALTHY"),
            ]
            var transitions: [(String?, String)] = []
            try cluster.waitFor("transitions in the audit store") {
                transitions = try cluster.audit(subject: "service:billing-bridge", action: "service.transition")
                    .map { ($0.from, $0.to ?? "") }
                    .filter { $0.0 != nil }  // the first sighting (null → UNKNOWN/HEALTHY) is not part of the story
                return transitions.count >= expected.count
            }
            #expect(transitions.map { "\($0.0 ?? "-")→\($0.1)" } == expected.map { "\($0.0 ?? "-")→\($0.1)" })
            let allRows = try cluster.audit(subject: "service:billing-bridge")
            let keys = allRows.map { "\($0.publisher)#\($0.seq)" }
            #expect(Set(keys).count == keys.count, "an audit event was stored twice")
        }
    }

    @Test func actionsRunAndBadInputIsRefused() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()

            // An action goes out over ROUTER/DEALER and its result comes back.
            let run = try cluster.ctl(["action", "run", "billing-bridge", "flush-cache"])
            #expect(run.exitCode == 0, "\(run.stderr)")
            #expect(run.stdout.contains("SUCCEEDED"))
            #expect(run.stdout.contains("cache flushed"))
            let json = try cluster.ctl(["action", "run", "billing-bridge", "flush-cache", "--json"])
            let decoder = Cluster.ctlDecoder
            let record = try decoder.decode(CommandRecord.self, from: Data(json.stdout.utf8))
            #expect(record.status == .succeeded)
            #expect(record.data?["flushes"] == .number(2))

            // A failing handler ends FAILED and exits non-zero.
            let failed = try cluster.ctl(["action", "run", "billing-bridge", "fail-always"])
            #expect(failed.exitCode != 0)
            #expect(failed.stdout.contains("FAILED"))

            // Unknown action: one line, non-zero, names the actions that exist.
            let unknown = try cluster.ctl(["action", "run", "billing-bridge", "reboot-the-world"])
            #expect(unknown.exitCode != 0)
            #expect(unknown.stderr.contains("has no action \"reboot-the-world\""))
            #expect(unknown.stderr.split(separator: "\n").count == 1)

            // Unknown service.
            let noService = try cluster.ctl(["action", "run", "no-such-service", "flush-cache"])
            #expect(noService.exitCode != 0)
            #expect(noService.stderr.contains("no service named \"no-such-service\""))

            // Confirmation required: refused before anything is created.
            let before = try cluster.ctlJSON([CommandRecord].self, ["commands"])?.count ?? -1
            let unconfirmed = try cluster.ctl([
                "action", "run", "billing-bridge", "rotate-credentials", "--payload", #"{"reason":"audit"}"#,
            ])
            #expect(unconfirmed.exitCode != 0)
            #expect(unconfirmed.stderr.contains("requires --confirm"))
            #expect(try cluster.ctlJSON([CommandRecord].self, ["commands"])?.count == before)

            // Payload that is not JSON, and one that fails the schema (with the failing path).
            let notJSON = try cluster.ctl(["action", "run", "billing-bridge", "set-health", "--payload", "{status: UP"])
            #expect(notJSON.exitCode != 0)
            #expect(notJSON.stderr.contains("not valid JSON"))
            let badSchema = try cluster.ctl([
                "action", "run", "billing-bridge", "set-health", "--payload", #"{"status":"SIDEWAYS"}"#,
            ])
            #expect(badSchema.exitCode != 0)
            #expect(badSchema.stderr.contains("$.status"))

            // With --confirm it runs.
            let confirmed = try cluster.ctl([
                "action", "run", "billing-bridge", "rotate-credentials", "--confirm", "--payload",
                #"{"reason":"audit"}"#,
            ])
            #expect(confirmed.exitCode == 0, "\(confirmed.stderr)")

            // Commands are listed, and their lifecycle is audited.
            let commands = try #require(try cluster.ctlJSON([CommandRecord].self, ["commands"]))
            #expect(commands.contains { $0.action == "rotate-credentials" && $0.status == .succeeded })
            try cluster.waitFor("command events audited") {
                try cluster.audit(action: "command.").filter { $0.action == "command.succeeded" }.count >= 3
            }

            // Export and backup of the audit trail.
            let csvFile = cluster.home.appendingPathComponent("audit.csv").path
            let exported = try cluster.ctl(["audit", "export", "--format", "csv", "--out", csvFile])
            #expect(exported.exitCode == 0, "\(exported.stderr)")
            let csv = try String(contentsOfFile: csvFile, encoding: .utf8).split(separator: "\n")
            #expect(csv.first == "id,at,publisher,seq,action,subject,actor,result,from,to,reason,details")
            #expect(csv.count - 1 == (try cluster.audit()).count)
            let jsonExport = try cluster.ctl(["audit", "export", "--format", "json", "--action", "command.succeeded"])
            #expect(try JSONValue.parse(jsonExport.stdout) != .null)
            // Backups go only into the audit writer's backup folder, mode 0600, never over a file.
            let backupFile = cluster.home.appendingPathComponent("backups/audit-backup.sqlite").path
            let backup = try cluster.ctl(["backup", "audit-backup.sqlite"])
            #expect(backup.exitCode == 0, "\(backup.stderr)")
            let header = try FileHandle(forReadingFrom: URL(fileURLWithPath: backupFile)).readData(ofLength: 16)
            #expect(String(decoding: header, as: UTF8.self).hasPrefix("SQLite format 3"))
            #expect((try FileManager.default.attributesOfItem(atPath: backupFile)[.posixPermissions] as? Int) == 0o600)
            #expect(
                try cluster.ctl(["backup", "audit-backup.sqlite"]).exitCode != 0,
                "a backup never overwrites a file"
            )

            // Unknown flags and statuses are refused by the CLI itself.
            let badFlag = try cluster.ctl(["status", "--frobnicate"])
            #expect(badFlag.exitCode != 0)
            #expect(!badFlag.stderr.isEmpty)
        }
    }
}
