import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleTestSupport
import CapsuleZMQ
import Foundation
import Testing

/// Hostile peers and bad input (design §4–§6, "Bounded by construction"), against the real processes:
/// each test is one hole a raw pyzmq client or the CLI found, and fails without its fix.
@Suite(.serialized)
struct HostileInputEndToEndTests {
    /// A raw agent that declares one service with one action and answers commands by hand.
    final class RawAgent {
        let peer: RawPeer
        let agentId: String

        init(cluster: Cluster, code: String = "raw-agent", service: String = "raw-svc") throws {
            peer = try RawPeer(cluster: cluster)
            agentId = try peer.hello(code: code, token: try cluster.mintToken(agentCode: code)).get()
            try peer.openPublisher()
            let manifest = ServiceManifest(
                code: service,
                name: "Raw",
                version: "1",
                runtime: "raw",
                actions: [ActionDefinition(name: "echo", timeoutSeconds: 30)]
            )
            let report = ServiceReport(agentId: agentId, agentCode: code, services: [manifest])
            try cluster.waitFor("\(service) HEALTHY") {
                try peer.publish(topic: Topic.report(agentId), .serviceReport, report)
                try peer.heartbeat(agentId: agentId, code: code, services: [service])
                return try cluster.status(of: service)?.status == "HEALTHY"
            }
        }

        /// Waits for the next command pushed to this agent.
        func nextDispatch(seconds: Double = 10) throws -> CommandDispatch? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let message = try peer.receive(waitSeconds: 0.5), message.header.type == .commandDispatch {
                    return try message.decode(CommandDispatch.self)
                }
            }
            return nil
        }

        /// Sends a result and returns the broker's answer to it, if any.
        func result(_ result: CommandResult, wait: Double = 2) throws -> WireMessage? {
            try peer.request(.commandResult, result, waitSeconds: wait)
        }
    }

    private func command(_ cluster: Cluster, _ id: String) throws -> CommandRecord? {
        try cluster.ctlJSON(CommandRecord.self, ["command", "show", id])
    }

    private func created(_ result: Cluster.CTLResult) throws -> CommandRecord {
        try Cluster.ctlDecoder.decode(CommandRecord.self, from: Data(result.stdout.utf8))
    }

    private func storeBytes(_ cluster: Cluster) -> Int {
        let data = cluster.home.appendingPathComponent("data")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: data.path)) ?? []
        return names.filter { $0.contains(".sqlite") }.reduce(0) { total, name in
            total
                + ((try? FileManager.default.attributesOfItem(atPath: data.appendingPathComponent(name).path)[.size]
                    as? Int) ?? 0)
        }
    }

    /// Issue 9 #1, #5: an oversized result is refused with an error the agent receives and ends the
    /// command FAILED; a long message is cut at creation; the trail keeps flowing after both.
    @Test func anOversizedResultFailsItsCommandAndNothingStallsTheAuditTrail() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let agent = try RawAgent(cluster: cluster)

            let first = try created(try cluster.ctl(["action", "run", "raw-svc", "echo", "--no-wait", "--json"]))
            let dispatch = try #require(try agent.nextDispatch())
            #expect(dispatch.commandId == first.id)
            let huge = String(repeating: "m", count: 131_000)
            let refusal = try #require(
                try agent.result(CommandResult(commandId: first.id, success: true, message: huge))
            )
            #expect(refusal.header.type == .error)
            #expect(try refusal.decode(ErrorBody.self).code == .oversized, "the agent learns why")
            try cluster.waitFor("the oversized result ends the command FAILED") {
                try command(cluster, first.id)?.status == .failed
            }
            #expect(try command(cluster, first.id)?.errorCode == "result_too_large")

            // A long message under the cap is kept, cut with a visible marker.
            let second = try created(try cluster.ctl(["action", "run", "raw-svc", "echo", "--no-wait", "--json"]))
            _ = try #require(try agent.nextDispatch())
            _ = try agent.result(
                CommandResult(commandId: second.id, success: true, message: String(repeating: "n", count: 50_000)),
                wait: 0.5
            )
            try cluster.waitFor("the second command SUCCEEDED") {
                try command(cluster, second.id)?.status == .succeeded
            }
            let message = try #require(try command(cluster, second.id)?.message)
            #expect(message.utf8.count < 5_000 && message.contains("…[cut"))

            // Events created after both reach the audit store: nothing stalled it.
            let later = try cluster.ctl(["token", "create", "--name", "after-the-big-one", "--json"])
            #expect(later.exitCode == 0, "a token minted after the big events: \(later.stderr)")
            try cluster.waitFor("later events stored") {
                let events = try cluster.audit(action: "command.")
                let tokens = try cluster.audit(action: "token.created")
                return events.contains { $0.subject == "command:\(first.id)" && $0.action == "command.failed" }
                    && events.contains { $0.subject == "command:\(second.id)" && $0.action == "command.succeeded" }
                    && tokens.contains { $0.details?["name"] == .string("after-the-big-one") }
            }
            let stored = try cluster.audit(action: "command.succeeded").first { $0.subject == "command:\(second.id)" }
            #expect((stored?.reason?.utf8.count ?? 0) <= SafeText.reasonLimit + 32, "events are bounded when created")
        }
    }

    /// Issue 9 #2, design §6: a reset store refuses to start, naming the file; `--init-store` starts a
    /// new journal incarnation whose events the audit writer stores although it saw their seqs before.
    @Test func aResetBrokerStoreRefusesToStartAndANewIncarnationLosesNothing() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            for index in 0..<3 {
                #expect(try cluster.ctl(["token", "create", "--name", "before-\(index)"]).exitCode == 0)
            }
            try cluster.waitFor("the first tokens audited") { try cluster.audit(action: "token.created").count >= 3 }

            cluster.stop("broker", signal: SIGKILL)
            let database = cluster.home.appendingPathComponent("data/broker.sqlite")
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database.path + suffix) }
            #expect(
                FileManager.default.createFile(atPath: database.path, contents: Data()),
                "truncate the store to 0 bytes"
            )
            let refused = try cluster.start(
                "broker-refused",
                "capsule-broker",
                cluster.commonArgs + cluster.thresholds + [
                    "--ingest-bind", "tcp://127.0.0.1:\(cluster.ports.ingest)", "--bus-bind",
                    "tcp://127.0.0.1:\(cluster.ports.bus)",
                    "--router-bind", "tcp://127.0.0.1:\(cluster.ports.router)",
                ]
            )
            refused.waitUntilExit()
            #expect(refused.terminationStatus != 0, "an empty store must not start silently")
            let said = (try? String(contentsOf: cluster.log("broker-refused"), encoding: .utf8)) ?? ""
            #expect(said.contains("broker.sqlite") && said.contains("--init-store"), "\(said)")

            try cluster.startBroker(extra: ["--init-store"])
            try cluster.waitFor("operator access again") { try cluster.ctl(["token", "list"]).exitCode == 0 }
            for index in 0..<3 {
                #expect(try cluster.ctl(["token", "create", "--name", "after-\(index)"]).exitCode == 0)
            }
            try cluster.waitFor("the new incarnation's events stored") {
                let names = try cluster.audit(action: "token.created").compactMap { $0.details?["name"]?.stringValue }
                return (0..<3).allSatisfy { names.contains("after-\($0)") }
                    && (0..<3).allSatisfy { names.contains("before-\($0)") }
            }
            let incarnations = Set(try cluster.audit(action: "token.created").map(\.incarnation))
            #expect(incarnations.count == 2, "two broker incarnations side by side: \(incarnations)")

            // A store that is gone altogether, while the broker key remains, is refused the same way.
            cluster.stop("broker", signal: SIGKILL)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database.path + suffix) }
            let missing = try cluster.start(
                "broker-missing",
                "capsule-broker",
                cluster.commonArgs + cluster.thresholds + [
                    "--ingest-bind", "tcp://127.0.0.1:\(cluster.ports.ingest)", "--bus-bind",
                    "tcp://127.0.0.1:\(cluster.ports.bus)",
                    "--router-bind", "tcp://127.0.0.1:\(cluster.ports.router)",
                ]
            )
            let refusedInTime =
                (try? cluster.waitFor("the broker to refuse a missing store", seconds: 30) { !missing.isRunning })
                != nil
            #expect(refusedInTime, "a missing store must not start silently")
            if !refusedInTime { cluster.stop("broker-missing") }
            missing.waitUntilExit()
            #expect(missing.terminationStatus != 0, "a missing store must not start silently")
            let told = (try? String(contentsOf: cluster.log("broker-missing"), encoding: .utf8)) ?? ""
            #expect(told.contains("is missing") && told.contains("--init-store"), "\(told)")
            #expect(!FileManager.default.fileExists(atPath: database.path), "nothing was created in its place")
        }
    }

    /// Issue 9 #3: an agent that cannot record a command in its ledger does not run it.
    @Test func anAgentThatCannotWriteItsLedgerRunsNothing() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            // The ledger's path is taken by a folder: every write fails, as on a full or read-only disk.
            let ledger = cluster.home.appendingPathComponent("data/agent-demo-swift-commands.jsonl")
            try FileManager.default.createDirectory(at: ledger, withIntermediateDirectories: true)
            let executions = cluster.home.appendingPathComponent("executions.log")
            try cluster.startWithDemoService(extra: ["--executions-file", executions.path])
            let run = try cluster.ctl([
                "action", "run", "billing-bridge", "slow-task", "--payload", #"{"ms":10}"#, "--json",
            ])
            #expect(run.exitCode != 0)
            let record = try created(run)
            #expect(record.status == .failed)
            #expect(record.errorCode == "ledger_unavailable")
            #expect(!FileManager.default.fileExists(atPath: executions.path), "the handler never ran")
        }
    }

    /// Issue 9 #4, design §4: a disabled agent gets no command; one already pending is held and
    /// delivered after enable; a result for a command it ran before it was disabled is accepted.
    @Test func aDisabledAgentGetsNoCommandsAndTheRecordNeverContradictsWhatRan() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            let executions = cluster.home.appendingPathComponent("executions.log")
            try cluster.startWithDemoService(extra: ["--executions-file", executions.path])
            let agentId = try #require(try cluster.status(of: "billing-bridge")?.agentId)

            // Dispatched, then the agent is disabled while it runs: its result still counts.
            let running = try created(
                try cluster.ctl([
                    "action", "run", "billing-bridge", "slow-task", "--payload", #"{"ms":1500}"#, "--no-wait", "--json",
                ])
            )
            try cluster.waitFor("slow task RUNNING") { try command(cluster, running.id)?.status == .running }
            #expect(try cluster.ctl(["agent", "disable", agentId]).exitCode == 0)
            try cluster.waitFor("the running command SUCCEEDED although the agent is now disabled") {
                try command(cluster, running.id)?.status == .succeeded
            }

            // New commands are refused outright.
            let refused = try cluster.ctl(["action", "run", "billing-bridge", "flush-cache"])
            #expect(refused.exitCode != 0)
            #expect(refused.stderr.contains("disabled"), "\(refused.stderr)")

            // A command created while the agent was away and then held over a disable goes out after enable.
            #expect(try cluster.ctl(["agent", "enable", agentId]).exitCode == 0)
            cluster.stop("demo", signal: SIGTERM)
            let queued = try cluster.ctl([
                "action", "run", "billing-bridge", "slow-task", "--payload", #"{"ms":10}"#, "--no-wait", "--json",
            ])
            #expect(queued.exitCode == 0, "\(queued.stderr)")
            #expect(queued.stderr.contains("queued"), "the CLI warns that the agent is not connected: \(queued.stderr)")
            let held = try created(queued)
            #expect(try cluster.ctl(["agent", "disable", agentId]).exitCode == 0)
            try cluster.startDemoService(extra: ["--executions-file", executions.path])
            Thread.sleep(forTimeInterval: 2)
            #expect(try command(cluster, held.id)?.status == .pending, "held while the agent is disabled")
            #expect(try cluster.ctl(["agent", "enable", agentId]).exitCode == 0)
            cluster.stop("demo", signal: SIGTERM)
            try cluster.startDemoService(extra: ["--executions-file", executions.path])
            try cluster.waitFor("the held command runs after enable") {
                try command(cluster, held.id)?.status == .succeeded
            }
            let ran = (try String(contentsOf: executions, encoding: .utf8)).split(separator: "\n").map(String.init)
            #expect(ran == [running.id, held.id], "each ran once, in order")
            // --require-online refuses instead of queueing.
            cluster.stop("demo", signal: SIGTERM)
            let offline = try cluster.ctl(["action", "run", "billing-bridge", "flush-cache", "--require-online"])
            #expect(offline.exitCode != 0)
            #expect(offline.stderr.contains("nothing was created"), "\(offline.stderr)")
        }
    }

    /// Issue 9 #6, #10, target "an unauthenticated flood adds at most 1 MB": fresh keys sending hellos
    /// with 200 KB codes are refused cheaply, audited once per key, and store almost nothing.
    @Test func anUnauthenticatedHelloFloodIsBoundedAndAggregated() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()
            Thread.sleep(forTimeInterval: 1)
            let before = storeBytes(cluster)
            let code = String(repeating: "x", count: 200_000)
            var peers: [RawPeer] = []
            for _ in 0..<20 {
                let peer = try RawPeer(cluster: cluster)
                for _ in 0..<40 {
                    let hello = AgentHello(
                        agentCode: code,
                        services: [],
                        manifestDigest: "0",
                        software: "flood",
                        enrollmentToken: nil
                    )
                    try peer.dealer.send(
                        WireCodec.encode(header: peer.header(.agentHello), body: hello),
                        dontWait: true
                    )
                }
                peers.append(peer)
            }
            // A forged code with a line break and a fake timestamp: refused, and escaped where it is recorded.
            let forger = try RawPeer(cluster: cluster)
            let forged = try forger.hello(code: "evil\n2026-01-01T00:00:00Z FAKE row", token: "cap_whatever")
            #expect((try? forged.get()) == nil)
            if case .failure(let error) = forged { #expect(error.code == .invalidIdentifier) }
            Thread.sleep(forTimeInterval: 3)
            try cluster.waitFor("refusals audited") {
                try cluster.audit(action: "agent.enrollment_refused").count >= 20
            }
            let refusals = try cluster.audit(action: "agent.enrollment_refused")
            #expect(
                refusals.count <= 21 + 1,
                "one refusal event per key per window, not one per hello: \(refusals.count)"
            )
            #expect(refusals.allSatisfy { !$0.subject.contains("\n") && !($0.reason ?? "").contains("\n") })
            #expect(
                refusals.allSatisfy { ($0.details?["agentCode"]?.stringValue?.utf8.count ?? 0) < 200 },
                "claimed codes are cut"
            )
            let added = storeBytes(cluster) - before
            #expect(added < 1_000_000, "the flood added \(added) bytes to the stores")
            #expect(
                try cluster.status(of: "billing-bridge")?.status == "HEALTHY",
                "the well-behaved agent kept its status"
            )
            let audit = try cluster.ctl(["audit", "--limit", "200"])
            #expect(
                !audit.stdout.split(separator: "\n").contains { $0.contains("FAKE row") && !$0.contains("\\n") },
                "no forged row in capsulectl audit"
            )
            withExtendedLifetime(peers) {}
        }
    }

    /// Issue 9 #6 (identity mismatch), #7: repeated forgeries are one audit event; undeclared service
    /// codes in heartbeats are ignored, so one agent cannot inflate the status for everyone.
    @Test func forgeriesAreAggregatedAndUndeclaredServicesIgnored() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let agent = try RawAgent(cluster: cluster)
            agent.peer.sender = "agt_somebodyelse"
            for _ in 0..<150 { try agent.peer.heartbeat(agentId: "agt_somebodyelse", code: "raw-agent", services: []) }
            agent.peer.sender = agent.agentId
            try agent.peer.heartbeat(
                agentId: agent.agentId,
                code: "raw-agent",
                services: ["raw-svc"] + (0..<2_500).map { "junk-\($0)" }
            )
            Thread.sleep(forTimeInterval: 2)
            try cluster.waitFor("the forgery audited") { !(try cluster.audit(action: "agent_token.rejected").isEmpty) }
            #expect(
                try cluster.audit(action: "agent_token.rejected").count == 1,
                "150 forgeries, one event (a summary follows at the window's end)"
            )
            let summary = try #require(try cluster.ctlJSON(StatusSummary.self, ["status", "--summary"]))
            #expect(summary.totalServices == 1, "only the declared service: \(summary)")
            #expect(summary.services.values.reduce(0, +) == 1, "the counts agree with the total: \(summary.services)")
        }
    }

    /// Issue 9 #12: no operator key, of any role, reads the bus (it carries raw health details).
    @Test func noOperatorKeyReadsTheBus() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()
            let keyFile = cluster.home.appendingPathComponent("keys/operator.key")
            let pair = try KeyFile.read(keyFile)
            let (info, serverKey) = try BrokerInfo.resolve(home: CapsuleHome(path: cluster.home.path))
            let context = ZMQContext()
            let (sub, monitor) = try SocketFactory.monitoredClient(
                .sub,
                context: context,
                endpoint: info.bus,
                keyPair: pair,
                serverKey: serverKey,
                options: .internalLink(),
                monitored: true
            )
            try sub.subscribe("")
            var refused = false
            var received = 0
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline && !refused {
                var poller = ZMQPoller()
                poller.add(sub)
                poller.add(monitor!.socket)
                _ = try poller.poll(timeoutMilliseconds: 100)
                while let event = try monitor!.next() { if event.kind == .handshakeFailedAuth { refused = true } }
                while try sub.receive() != nil { received += 1 }
            }
            #expect(refused, "the owner's key is refused on the bus")
            #expect(received == 0)
            monitor?.socket.close()
            sub.close()
        }
    }

    /// Issue 9 #14: one-time result fields are shown once to the operator who ran the action, never
    /// stored in plaintext (broker, audit, the agent's ledger), and their reading is audited.
    @Test func oneTimeResultFieldsAreShownOnceAndNeverStored() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()
            let run = try cluster.ctl(["action", "run", "billing-bridge", "issue-key", "--json"])
            #expect(run.exitCode == 0, "\(run.stderr)")
            let record = try created(run)
            let key = try #require(record.oneTime?["apiKey"]?.stringValue)
            #expect(key.hasPrefix("key_"))
            #expect(record.data?["apiKey"] == .string("[ONE-TIME]"))
            #expect(record.data?["keyId"] != nil, "other fields are ordinary")
            #expect(try command(cluster, record.id)?.oneTime == nil, "gone after the first read")
            try cluster.waitFor("the read audited") { !(try cluster.audit(action: "command.secret_read").isEmpty) }
            Thread.sleep(forTimeInterval: 1)
            for name in try FileManager.default.contentsOfDirectory(
                atPath: cluster.home.appendingPathComponent("data").path
            ) {
                let bytes = try Data(contentsOf: cluster.home.appendingPathComponent("data/\(name)"))
                #expect(bytes.range(of: Data(key.utf8)) == nil, "the one-time key is in data/\(name)")
            }
        }
    }

    /// Issue 9 #16: what the trail did not record before, with one naming convention.
    @Test func theAuditTrailRecordsTheFirstOwnerManifestsAndCommandTiming() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()
            #expect(try cluster.ctl(["action", "run", "billing-bridge", "flush-cache"]).exitCode == 0)
            try cluster.waitFor("the trail holds the first owner, the manifest and the command") {
                let owners = try cluster.audit(action: "operator.added")
                let manifests = try cluster.audit(action: "service.reported")
                let succeeded = try cluster.audit(action: "command.succeeded")
                return owners.contains { $0.subject == "operator:local-owner" && $0.actor == "system" }
                    && manifests.contains { $0.subject == "service:billing-bridge" } && !succeeded.isEmpty
            }
            let done = try #require(try cluster.audit(action: "command.succeeded").first)
            #expect(
                done.details?["durationMs"] != nil && done.details?["startedAt"] != nil
                    && done.details?["completedAt"] != nil
            )
            #expect(done.actor.hasPrefix("agent:agt_"), "actors name principals as kind:id")
            let registered = try #require(try cluster.audit(action: "agent.registered").first)
            #expect(registered.subject.hasPrefix("agent:agt_") && registered.actor == registered.subject)
            let used = try #require(try cluster.audit(action: "token.used").first)
            #expect(used.subject.hasPrefix("token:tok_") && used.actor == registered.subject)
        }
    }

    /// Issue 9 #10, #11: names are identifiers; backups stay inside the backup folder.
    @Test func namesAreIdentifiersAndBackupsStayInTheirFolder() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let badOperator = try cluster.ctl(["operator", "add", "eve\nFAKE", "--role", "owner"])
            #expect(badOperator.exitCode != 0)
            #expect(
                badOperator.stderr.split(separator: "\n").count == 1 || badOperator.stderr.contains("identifier"),
                "\(badOperator.stderr)"
            )
            let badToken = try cluster.ctl(["token", "create", "--name", "two words"])
            #expect(badToken.exitCode != 0)
            #expect(badToken.stderr.contains("identifier"), "\(badToken.stderr)")
            for name in ["../escape.sqlite", "/etc/passwd", ".hidden", "keys/operator.key", ""] {
                let backup = try cluster.ctl(["backup", name])
                #expect(backup.exitCode != 0, "backup \(name) must be refused")
            }
            #expect(!FileManager.default.fileExists(atPath: cluster.home.appendingPathComponent("escape.sqlite").path))
            // A symbolic link where the backup folder should be is refused, not followed.
            let outside = cluster.home.appendingPathComponent("elsewhere")
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                at: cluster.home.appendingPathComponent("backups"),
                withDestinationURL: outside
            )
            #expect(try cluster.ctl(["backup", "fine.sqlite"]).exitCode != 0)
            #expect((try FileManager.default.contentsOfDirectory(atPath: outside.path)).isEmpty)
        }
    }
}
