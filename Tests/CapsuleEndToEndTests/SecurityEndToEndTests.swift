import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleTestSupport
import CapsuleZMQ
import Foundation
import Testing

/// Trust: enrollment, ZAP, identity binding, roles and redaction, against the real processes.
@Suite(.serialized)
struct SecurityEndToEndTests {
    private func tokenRecord(
        _ cluster: Cluster,
        agentCode: String? = nil,
        expires: String = "10m"
    ) throws -> (String, String) {
        try cluster.mintTokenRecord(agentCode: agentCode, expires: expires)
    }

    private func errorCode(_ result: Result<String, ErrorBody>) -> String? {
        if case .failure(let error) = result { return error.code.rawValue }
        return nil
    }

    @Test func enrollmentNeedsAFreshTokenAndEachRefusalHasItsOwnCode() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()

            let (good, goodId) = try tokenRecord(cluster)
            let first = try RawPeer(cluster: cluster)
            let agentId = try first.hello(code: "raw-a", token: good).get()
            #expect(agentId.hasPrefix("agt_"))

            #expect(errorCode(try RawPeer(cluster: cluster).hello(code: "raw-b", token: good)) == "token_used")
            #expect(
                errorCode(try RawPeer(cluster: cluster).hello(code: "raw-c", token: nil)) == "enrollment_token_required"
            )
            #expect(
                errorCode(try RawPeer(cluster: cluster).hello(code: "raw-d", token: "cap_not_a_real_token"))
                    == "token_invalid"
            )

            let (revoked, revokedId) = try tokenRecord(cluster)
            #expect(try cluster.ctl(["token", "revoke", revokedId]).exitCode == 0)
            #expect(errorCode(try RawPeer(cluster: cluster).hello(code: "raw-e", token: revoked)) == "token_revoked")

            let (short, _) = try tokenRecord(cluster, expires: "1s")
            Thread.sleep(forTimeInterval: 1.5)
            #expect(errorCode(try RawPeer(cluster: cluster).hello(code: "raw-f", token: short)) == "token_expired")

            let (bound, _) = try tokenRecord(cluster, agentCode: "raw-g")
            #expect(
                errorCode(try RawPeer(cluster: cluster).hello(code: "raw-h", token: bound)) == "token_code_mismatch"
            )

            // A later start reuses the key and needs no token.
            let again = try RawPeer(cluster: cluster, keyPair: first.keyPair)
            #expect(try again.hello(code: "raw-a", token: nil).get() == agentId)

            // The token list shows who used what; only hashes are stored.
            let tokens = try #require(try cluster.ctlJSON([TokenRecord].self, ["token", "list"]))
            #expect(tokens.first { $0.id == goodId }?.status == .used)
            #expect(tokens.first { $0.id == goodId }?.usedBy == agentId)
            #expect(tokens.first { $0.id == revokedId }?.status == .revoked)
            let database = try Data(contentsOf: cluster.home.appendingPathComponent("data/broker.sqlite"))
            #expect(database.range(of: Data(good.utf8)) == nil, "a raw token reached the database")

            try cluster.waitFor("refusals audited") {
                try cluster.audit(action: "agent.enrollment_refused").count >= 6
            }
        }
    }

    @Test func noTakeoverOfAnotherAgentsCodeOrServices() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()

            let owner = try RawPeer(cluster: cluster)
            let ownerId = try owner.hello(code: "owner-agent", token: try tokenRecord(cluster).0, services: ["svc-a"])
                .get()
            try owner.openPublisher()
            let manifest = ServiceManifest(code: "svc-a", name: "A", version: "1", runtime: "raw")
            try owner.publish(
                topic: Topic.report(ownerId),
                .serviceReport,
                ServiceReport(agentId: ownerId, agentCode: "owner-agent", services: [manifest])
            )
            try owner.heartbeat(agentId: ownerId, code: "owner-agent", services: ["svc-a"])
            try cluster.waitFor("svc-a HEALTHY") {
                try owner.heartbeat(agentId: ownerId, code: "owner-agent", services: ["svc-a"])
                return try cluster.status(of: "svc-a")?.status == "HEALTHY"
            }

            // Another key with a plain token cannot take the agent code.
            let stray = try RawPeer(cluster: cluster)
            let taken = try stray.hello(code: "owner-agent", token: try tokenRecord(cluster).0)
            #expect(errorCode(taken) == "agent_code_taken")

            // Nor enrol claiming the service, which is refused naming its owner.
            let claim = try stray.hello(code: "stray-agent", token: try tokenRecord(cluster).0, services: ["svc-a"])
            guard case .failure(let refusal) = claim else {
                Issue.record("a stray agent enrolled claiming svc-a")
                return
            }
            #expect(refusal.code == "service_owned")
            #expect(refusal.message.contains(ownerId))

            // Enrolled under its own code, its reports and heartbeats for svc-a are dropped.
            let strayId = try stray.hello(code: "stray-agent", token: try tokenRecord(cluster).0).get()
            try stray.openPublisher()
            try stray.publish(
                topic: Topic.report(strayId),
                .serviceReport,
                ServiceReport(agentId: strayId, agentCode: "stray-agent", services: [manifest])
            )
            for _ in 0..<5 {
                try stray.heartbeat(agentId: strayId, code: "stray-agent", services: ["svc-a"], health: .down)
                try owner.heartbeat(agentId: ownerId, code: "owner-agent", services: ["svc-a"])
                Thread.sleep(forTimeInterval: 0.2)
            }
            let row = try #require(try cluster.status(of: "svc-a"))
            #expect(row.agentId == ownerId)
            #expect(row.status == "HEALTHY")
            try cluster.waitFor("claim refusal audited") {
                !(try cluster.audit(action: "service.claim_refused").isEmpty)
            }
        }
    }

    @Test func identityMismatchIsDroppedAndAuditedAndRevokeCutsTheConnection() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()

            let peer = try RawPeer(cluster: cluster)
            let agentId = try peer.hello(code: "liar", token: try tokenRecord(cluster).0).get()
            try peer.openPublisher()
            let manifest = ServiceManifest(code: "svc-liar", name: "L", version: "1", runtime: "raw")
            try peer.publish(
                topic: Topic.report(agentId),
                .serviceReport,
                ServiceReport(agentId: agentId, agentCode: "liar", services: [manifest])
            )
            try cluster.waitFor("svc-liar HEALTHY") {
                try peer.heartbeat(agentId: agentId, code: "liar", services: ["svc-liar"])
                return try cluster.status(of: "svc-liar")?.status == "HEALTHY"
            }

            // A heartbeat claiming another identity than its key: dropped and audited.
            peer.sender = "agt_somebodyelse"
            try peer.heartbeat(agentId: "agt_somebodyelse", code: "liar", services: [])
            peer.sender = agentId
            try cluster.waitFor("agent_token.rejected audited") {
                try cluster.audit(action: "agent_token.rejected").contains {
                    $0.details?["claimed"] == .string("agt_somebodyelse")
                        && $0.details?["actual"] == .string("agent:\(agentId)")
                }
            }

            // Disable: services OFFLINE "agent disabled"; enable brings them back.
            #expect(try cluster.ctl(["agent", "disable", agentId]).exitCode == 0)
            try cluster.waitFor("svc-liar OFFLINE (disabled)") {
                let row = try cluster.status(of: "svc-liar")
                return row?.status == "OFFLINE" && row?.reason == "agent disabled"
            }
            #expect(try cluster.ctl(["agent", "enable", agentId]).exitCode == 0)
            try cluster.waitFor("svc-liar HEALTHY after enable") {
                try peer.heartbeat(agentId: agentId, code: "liar", services: ["svc-liar"])
                return try cluster.status(of: "svc-liar")?.status == "HEALTHY"
            }

            // Revoke: the very next message is refused and its connection cut; reconnecting fails ZAP.
            #expect(try cluster.ctl(["agent", "revoke", agentId]).exitCode == 0)
            try peer.heartbeat(agentId: agentId, code: "liar", services: ["svc-liar"])
            #expect(
                try peer.waitForPublisherEvent(.disconnected, seconds: 10),
                "the revoked agent's connection was not cut"
            )
            #expect(
                try peer.waitForPublisherEvent(.handshakeFailedAuth, seconds: 10),
                "the revoked key was let back in"
            )
            try cluster.waitFor("svc-liar OFFLINE (revoked)") {
                try cluster.status(of: "svc-liar")?.reason == "agent revoked"
            }
            #expect(try cluster.ctl(["agent", "enable", agentId]).exitCode != 0, "a revoked agent was re-enabled")
            #expect(!(try cluster.audit(action: "agent.revoked").isEmpty))
        }
    }

    @Test func aViewerMayReadButNotAct() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let keyFile = cluster.home.appendingPathComponent("viewer.key").path
            let added = try cluster.ctl(["operator", "add", "vera", "--role", "viewer", "--out", keyFile])
            #expect(added.exitCode == 0, "\(added.stderr)")

            #expect(try cluster.ctl(["status", "--key", keyFile]).exitCode == 0)
            let denied = try cluster.ctl(["action", "run", "any-service", "any-action", "--key", keyFile])
            #expect(denied.exitCode != 0)
            #expect(denied.stderr.contains("needs the operator role"))
            let mint = try cluster.ctl(["token", "create", "--name", "x", "--key", keyFile])
            #expect(mint.exitCode != 0)
            try cluster.waitFor("denial audited") {
                try cluster.audit(action: "operator.denied").contains { $0.actor == "operator:vera" }
            }
            let list = try cluster.ctl(["operator", "list"])
            #expect(list.stdout.contains("vera") && list.stdout.contains("viewer"))
            #expect(try cluster.ctl(["operator", "remove", "vera"]).exitCode == 0)
            #expect(try cluster.ctl(["status", "--key", keyFile, "--timeout", "3"]).exitCode != 0)
        }
    }

    @Test func noSecretReachesStorageOrOutput() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()

            let plantedPassword = "PLANTED-PASSWORD-7731"
            let plantedToken = "PLANTED-TOKEN-5521"
            let flush = try cluster.ctl([
                "action", "run", "billing-bridge", "flush-cache", "--json", "--payload",
                #"{"password":"\#(plantedPassword)","note":"ok"}"#,
            ])
            #expect(flush.exitCode == 0, "\(flush.stderr)")
            // The handler saw the raw value (21 characters), not "[REDACTED]" (10).
            #expect(flush.stdout.contains(#""receivedInputChars" : 21"#))
            let rotate = try cluster.ctl([
                "action", "run", "billing-bridge", "rotate-credentials", "--confirm", "--payload",
                #"{"reason":"rotation","apiToken":"\#(plantedToken)"}"#,
            ])
            #expect(rotate.exitCode == 0, "\(rotate.stderr)")

            var outputs: [String] = []
            for args in [
                ["status", "--json"], ["service", "show", "billing-bridge"],
                ["service", "show", "billing-bridge", "--json"],
                ["commands", "--json"], ["audit", "--json", "--limit", "1000"], ["audit"],
            ] {
                outputs.append(try cluster.ctl(args).stdout)
            }
            outputs.append(flush.stdout)
            outputs.append(rotate.stdout)
            let planted = [plantedPassword, plantedToken, "demo-upstream-token-value", "never-shown"]
            for text in outputs {
                for secret in planted { #expect(!text.contains(secret), "\(secret) appeared in capsulectl output") }
            }
            #expect(outputs.joined().contains("[REDACTED]"))
            try cluster.waitFor("command results audited") { try cluster.audit(action: "command.succeeded").count >= 2 }

            cluster.stopAll()
            let data = cluster.home.appendingPathComponent("data")
            let files = try FileManager.default.contentsOfDirectory(atPath: data.path)
            #expect(files.contains("audit.sqlite"))
            for file in files {
                let bytes = try Data(contentsOf: data.appendingPathComponent(file))
                for secret in planted {
                    #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) found in \(file)")
                }
            }
            for name in ["broker", "aggregator", "audit", "demo"] {
                let log = (try? String(contentsOf: cluster.log(name), encoding: .utf8)) ?? ""
                for secret in planted { #expect(!log.contains(secret), "\(secret) found in \(name).log") }
            }
        }
    }

    @Test func reEnrollingACodeNeedsAnOwnersTokenForThatCodeAndRevokesTheOldKey() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let original = try RawPeer(cluster: cluster)
            let agentId = try original.hello(code: "edge-1", token: try tokenRecord(cluster).0).get()

            // A token minted by the local owner for exactly this code moves the identity to a new key.
            let replacement = try RawPeer(cluster: cluster)
            #expect(
                try replacement.hello(code: "edge-1", token: try tokenRecord(cluster, agentCode: "edge-1").0).get()
                    == agentId
            )
            // The old key is revoked: ZAP refuses its handshake outright.
            let old = try RawPeer(cluster: cluster, keyPair: original.keyPair)
            #expect(errorCode(try old.hello(code: "edge-1", token: nil)) != nil)
            #expect(old.events.contains(.handshakeFailedAuth))
            try cluster.waitFor("re-enrolment audited") { !(try cluster.audit(action: "agent.reenrolled").isEmpty) }

            // A token an operator (not an owner) minted for the code is not enough.
            let keyFile = cluster.home.appendingPathComponent("ops.key").path
            #expect(try cluster.ctl(["operator", "add", "olga", "--role", "operator", "--out", keyFile]).exitCode == 0)
            let minted = try cluster.ctl(["token", "create", "--name", "x", "--agent-code", "edge-1", "--key", keyFile])
            #expect(minted.exitCode == 0, "\(minted.stderr)")
            let third = try RawPeer(cluster: cluster)
            #expect(
                errorCode(
                    try third.hello(
                        code: "edge-1",
                        token: minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    )
                ) == "agent_code_taken"
            )
        }
    }

    @Test func aPeerOverItsRateIsThrottledAndAuditedWithoutStarvingOthers() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.setHealth("UP")
            try cluster.startBroker(extra: ["--max-messages-per-second", "20", "--burst-messages", "20"])
            try cluster.startAggregator()
            try cluster.startAudit()
            try cluster.startDemoService()
            try cluster.waitFor("billing-bridge HEALTHY") {
                try cluster.status(of: "billing-bridge")?.status == "HEALTHY"
            }

            let flood = try RawPeer(cluster: cluster)
            let floodId = try flood.hello(code: "flood", token: try tokenRecord(cluster).0).get()
            try flood.openPublisher()
            for _ in 0..<500 { try flood.heartbeat(agentId: floodId, code: "flood", services: []) }
            try cluster.waitFor("throttling audited") {
                try cluster.audit(action: "peer.throttled").contains { $0.subject == "agent:\(floodId)" }
            }
            // The well-behaved agent keeps its status while the flood goes on.
            for _ in 0..<10 {
                for _ in 0..<50 { try flood.heartbeat(agentId: floodId, code: "flood", services: []) }
                Thread.sleep(forTimeInterval: 0.2)
            }
            #expect(try cluster.status(of: "billing-bridge")?.status == "HEALTHY")
            #expect(
                try cluster.audit(action: "peer.throttled").filter { $0.subject == "agent:\(floodId)" }.count == 1,
                "throttling is audited once per key per minute, with a count"
            )
        }
    }
}
