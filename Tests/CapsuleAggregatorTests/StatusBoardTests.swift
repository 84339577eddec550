import CapsuleAggregator
import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

/// Heartbeat every 1 s, STALE after more than 3 s, OFFLINE at 5 s.
let boardThresholds = StatusThresholds(heartbeatSeconds: 1, staleSeconds: 3, offlineSeconds: 5)
let t0 = Date(timeIntervalSince1970: 1_700_000_000)

func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

func sample(_ code: String, _ status: HealthStatus, at seconds: Double = 0, details: JSONValue? = nil) -> ServiceHealth
{
    ServiceHealth(
        code: code,
        health: HealthReport(status: status, message: "\(status.rawValue) message", details: details),
        sampledAt: at(seconds)
    )
}

func heartbeat(_ agentId: String, code: String, digest: String = "d1", _ services: [ServiceHealth]) -> Heartbeat {
    Heartbeat(agentId: agentId, agentCode: code, manifestDigest: digest, intervalSeconds: 1, services: services)
}

/// A heartbeat from agt_1 (code edge-1).
func heartbeat(digest: String = "d1", _ services: [ServiceHealth]) -> Heartbeat {
    heartbeat("agt_1", code: "edge-1", digest: digest, services)
}

/// A compact, comparable form of a transition.
struct Change: Hashable, CustomStringConvertible {
    var subject: String
    var from: String?
    var to: String

    init(_ subject: String, _ from: String?, _ to: String) {
        self.subject = subject
        self.from = from
        self.to = to
    }

    init(_ transition: Transition) {
        self.init(transition.subject, transition.from, transition.to)
    }

    var description: String { "\(subject): \(from ?? "nil") → \(to)" }
}

func changes(_ transitions: [Transition]) -> [Change] { transitions.map(Change.init) }

struct StatusBoardTests {
    /// A board with agt_1 heartbeating at t0 with `api` UP.
    func healthyBoard() -> StatusBoard {
        var board = StatusBoard(thresholds: boardThresholds)
        _ = board.apply(heartbeat([sample("api", .up)]), now: t0)
        return board
    }

    @Test func firstHeartbeatWithUpMakesTheServiceHealthy() throws {
        var board = StatusBoard(thresholds: boardThresholds)
        let transitions = board.apply(heartbeat([sample("api", .up)]), now: t0)
        #expect(
            changes(transitions) == [
                Change("agent:agt_1", "PENDING", "ONLINE"),
                Change("service:api", nil, "HEALTHY"),
            ]
        )
        let service = try #require(transitions.last)
        #expect(service.kind == .service)
        #expect(service.reason == "health UP")
        #expect(service.at == t0)
        #expect(transitions.first?.kind == .agent)
        #expect(transitions.first?.reason == "heartbeat received")

        #expect(board.agents["agt_1"]?.status == .online)
        #expect(board.agents["agt_1"]?.code == "edge-1")
        #expect(board.agents["agt_1"]?.services == ["api"])
        #expect(board.agents["agt_1"]?.changedAt == t0)
        #expect(board.services["api"]?.status == .healthy)
        #expect(board.services["api"]?.agentId == "agt_1")
        #expect(board.services["api"]?.healthAt == t0)
        #expect(board.dirtyAgents == ["agt_1"])
        #expect(board.dirtyServices == ["api"])
    }

    @Test func repeatedHealthyHeartbeatsEmitNothing() {
        var board = healthyBoard()
        for second in 1...10 {
            #expect(board.apply(heartbeat([sample("api", .up)]), now: at(Double(second))).isEmpty, "at +\(second) s")
        }
        #expect(board.services["api"]?.changedAt == t0, "changedAt only moves on a transition")
    }

    @Test func degradedAndDownAreUnhealthy() {
        var board = healthyBoard()
        let degraded = board.apply(heartbeat([sample("api", .degraded)]), now: at(1))
        #expect(changes(degraded) == [Change("service:api", "HEALTHY", "UNHEALTHY")])
        #expect(degraded.first?.reason == "health DEGRADED")

        // DEGRADED → DOWN keeps the same effective status: no transition, but the reason follows.
        #expect(board.apply(heartbeat([sample("api", .down)]), now: at(2)).isEmpty)
        #expect(board.services["api"]?.reason == "health DOWN")
        #expect(board.services["api"]?.health?.status == .down)

        let recovered = board.apply(heartbeat([sample("api", .up)]), now: at(3))
        #expect(changes(recovered) == [Change("service:api", "UNHEALTHY", "HEALTHY")])

        let unknown = board.apply(heartbeat([sample("api", .unknown)]), now: at(4))
        #expect(changes(unknown) == [Change("service:api", "HEALTHY", "UNKNOWN")])
        #expect(unknown.first?.reason == "health UNKNOWN")
    }

    /// While the aggregator could not hear the bus (the shell does not sweep then), nobody's silence
    /// counts: after the feed returns, an agent that is back stays HEALTHY and one that is not turns
    /// STALE and OFFLINE by the thresholds counted from the return, not from its last heartbeat.
    @Test func silenceDuringAFeedOutageCountsAgainstNoAgent() throws {
        var board = healthyBoard()
        _ = board.apply(heartbeat("agt_2", code: "edge-2", [sample("web", .up)]), now: t0)
        // Outage from about t0 + 1 to t0 + 20; both agents' deadlines passed in it.
        board.feedReturned(at: at(20))
        #expect(board.sweep(now: at(20.5)).isEmpty, "overdue deadlines are re-read from the return")
        _ = board.apply(heartbeat("agt_2", code: "edge-2", [sample("web", .up, at: 21)]), now: at(21))
        #expect(board.sweep(now: at(23)).isEmpty, "exactly at the stale threshold after the return")
        #expect(changes(board.sweep(now: at(23.5))) == [Change("service:api", "HEALTHY", "STALE")])
        _ = board.apply(heartbeat("agt_2", code: "edge-2", [sample("web", .up, at: 24)]), now: at(24))
        #expect(
            changes(board.sweep(now: at(25))) == [
                Change("agent:agt_1", "ONLINE", "OFFLINE"), Change("service:api", "STALE", "OFFLINE"),
            ]
        )
        #expect(board.services["web"]?.status == .healthy, "the agent that came back stays HEALTHY")
        #expect(board.row("api", now: at(26))?.reason == "no heartbeat for 6 s", "silence counted from the return")
    }

    @Test func silenceTurnsStaleThenOfflineAndAHeartbeatRecoversAtOnce() throws {
        var board = healthyBoard()

        #expect(board.sweep(now: at(2)).isEmpty)
        #expect(board.sweep(now: at(3)).isEmpty, "exactly at the stale threshold is still fresh")

        let stale = board.sweep(now: at(3.5))
        #expect(changes(stale) == [Change("service:api", "HEALTHY", "STALE")])
        #expect(stale.first?.reason == "no heartbeat for 3 s")
        #expect(stale.first?.at == at(3.5))
        #expect(board.agents["agt_1"]?.status == .online, "a stale agent is still ONLINE")

        #expect(board.sweep(now: at(4)).isEmpty, "no duplicate STALE")
        #expect(
            board.row("api", now: at(4))?.reason == "no heartbeat for 4 s",
            "the reason shown is current without a transition"
        )

        let offline = board.sweep(now: at(5))
        #expect(
            changes(offline) == [
                Change("agent:agt_1", "ONLINE", "OFFLINE"),
                Change("service:api", "STALE", "OFFLINE"),
            ]
        )
        for transition in offline {
            #expect(transition.reason.contains("no heartbeat for"), "\(transition.reason)")
        }
        #expect(offline.last?.reason == "no heartbeat for 5 s")

        #expect(board.sweep(now: at(6)).isEmpty, "no duplicate OFFLINE")
        #expect(board.sweep(now: at(600)).isEmpty)

        let back = board.apply(heartbeat([sample("api", .up)]), now: at(601))
        #expect(
            changes(back) == [
                Change("agent:agt_1", "OFFLINE", "ONLINE"),
                Change("service:api", "OFFLINE", "HEALTHY"),
            ]
        )
        #expect(board.services["api"]?.changedAt == at(601))
    }

    @Test func sweepOfAnEmptyBoardIsEmpty() {
        var board = StatusBoard(thresholds: boardThresholds)
        #expect(board.sweep(now: t0).isEmpty)
        #expect(board.agents.isEmpty)
    }

    @Test func disablingTheAgentTakesItsServicesOffline() {
        var board = healthyBoard()
        board.clearDirty()
        let disabled = board.setAdminStatus(.disabled, agentId: "agt_1", now: at(1))
        #expect(
            changes(disabled) == [
                Change("agent:agt_1", "ONLINE", "DISABLED"),
                Change("service:api", "HEALTHY", "OFFLINE"),
            ]
        )
        #expect(disabled.map(\.reason) == ["agent disabled", "agent disabled"])
        #expect(board.dirtyAgents.contains("agt_1"))
        #expect(board.dirtyServices.contains("api"))

        // Heartbeats from a disabled agent do not bring anything back.
        #expect(board.apply(heartbeat([sample("api", .up)]), now: at(2)).isEmpty)
        #expect(board.services["api"]?.status == .offline)
        #expect(board.sweep(now: at(3)).isEmpty)

        let revoked = board.setAdminStatus(.revoked, agentId: "agt_1", now: at(4))
        #expect(changes(revoked) == [Change("agent:agt_1", "DISABLED", "REVOKED")])
        #expect(board.services["api"]?.reason == "agent revoked")

        let enabled = board.setAdminStatus(nil, agentId: "agt_1", now: at(4.5))
        #expect(
            changes(enabled) == [
                Change("agent:agt_1", "REVOKED", "ONLINE"),
                Change("service:api", "OFFLINE", "HEALTHY"),
            ]
        )
    }

    @Test func adminStatusForAnUnknownAgentIsIgnored() {
        var board = healthyBoard()
        #expect(board.setAdminStatus(.disabled, agentId: "agt_unknown", now: at(1)).isEmpty)
        #expect(board.agents["agt_unknown"] == nil)
        #expect(board.agents.count == 1)
    }

    @Test func healthUpdateForAnUnknownAgentIsIgnored() {
        var board = StatusBoard(thresholds: boardThresholds)
        #expect(board.apply(HealthUpdate(agentId: "agt_9", services: [sample("x", .up)]), now: t0).isEmpty)
        #expect(board.services.isEmpty)
        #expect(board.agents.isEmpty)
    }

    @Test func needsReportWhileTheDigestsDiffer() {
        let manifests = [ServiceManifest(code: "api", name: "API", version: "1", runtime: "swift")]
        let digest = ManifestDigest.of(manifests)
        var board = StatusBoard(thresholds: boardThresholds)
        #expect(!board.needsReport(agentId: "agt_1"), "unknown agent")

        _ = board.apply(heartbeat(digest: digest, [sample("api", .up)]), now: t0)
        #expect(board.needsReport(agentId: "agt_1"), "no report held yet")

        _ = board.apply(ServiceReport(agentId: "agt_1", agentCode: "edge-1", services: manifests), now: at(0.5))
        #expect(!board.needsReport(agentId: "agt_1"))
        #expect(board.agents["agt_1"]?.reportedDigest == digest)
        #expect(board.services["api"]?.manifest?.name == "API")

        _ = board.apply(heartbeat(digest: digest, [sample("api", .up)]), now: at(1))
        #expect(!board.needsReport(agentId: "agt_1"), "same digest again")

        _ = board.apply(heartbeat(digest: "changed", [sample("api", .up)]), now: at(2))
        #expect(board.needsReport(agentId: "agt_1"), "the agent's manifests changed")
    }

    @Test func reportStoresSanitisedManifestsAndRegistersServices() {
        let manifest = ServiceManifest(
            code: "db",
            name: "DB",
            version: "1",
            runtime: "postgres",
            configs: [ConfigItem(key: "password", value: .string("pw")), ConfigItem(key: "host", value: .string("h"))]
        )
        var board = StatusBoard(thresholds: boardThresholds)
        let transitions = board.apply(
            ServiceReport(agentId: "agt_2", agentCode: "edge-2", services: [manifest]),
            now: t0
        )
        // A report alone does not make the agent ONLINE; the service has no health yet.
        #expect(changes(transitions) == [Change("service:db", nil, "UNKNOWN")])
        #expect(transitions.first?.reason == "agent has not sent a heartbeat yet")
        #expect(board.agents["agt_2"]?.status == .pending)
        #expect(board.agents["agt_2"]?.services == ["db"])
        #expect(board.services["db"]?.manifest?.configs.first?.value == .string(Redactor.placeholder))
        #expect(board.services["db"]?.manifest?.configs.last?.value == .string("h"))

        // The first heartbeat without health for db: ONLINE, db still UNKNOWN but for another reason.
        let first = board.apply(heartbeat("agt_2", code: "edge-2", []), now: at(1))
        #expect(changes(first) == [Change("agent:agt_2", "PENDING", "ONLINE")])
        #expect(board.services["db"]?.reason == "no health reported yet")
    }

    @Test func healthDetailsAreRedacted() {
        var board = StatusBoard(thresholds: boardThresholds)
        _ = board.apply(
            heartbeat([sample("api", .up, details: .object(["token": .string("t0k"), "queue": .number(3)]))]),
            now: t0
        )
        #expect(
            board.services["api"]?.health?.details
                == .object(["token": .string(Redactor.placeholder), "queue": .number(3)])
        )
        #expect(board.services["api"]?.health?.message == "UP message")
        #expect(board.services["api"]?.sampledAt == t0)
    }

    /// Design: health stops arriving for one service while the agent keeps heartbeating.
    @Test func oneQuietServiceTurnsStaleWhileTheOtherStaysHealthy() {
        var board = StatusBoard(thresholds: boardThresholds)
        let first = board.apply(heartbeat([sample("api", .up), sample("worker", .up)]), now: t0)
        #expect(
            Set(changes(first)) == [
                Change("agent:agt_1", "PENDING", "ONLINE"),
                Change("service:api", nil, "HEALTHY"),
                Change("service:worker", nil, "HEALTHY"),
            ]
        )

        // From now on only `api` is reported; heartbeats keep coming every second.
        for second in 1...3 {
            #expect(board.apply(heartbeat([sample("api", .up, at: Double(second))]), now: at(Double(second))).isEmpty)
        }
        let quiet = board.apply(heartbeat([sample("api", .up, at: 4)]), now: at(4))
        #expect(changes(quiet) == [Change("service:worker", "HEALTHY", "STALE")])
        #expect(quiet.first?.reason == "no health for 4 s")
        #expect(board.services["api"]?.status == .healthy)
        #expect(board.agents["agt_1"]?.status == .online)

        // A sweep and further heartbeats keep it STALE without repeating the transition, even past the
        // offline threshold: the agent is alive, so the service is STALE, not OFFLINE.
        #expect(board.sweep(now: at(4.5)).isEmpty)
        for second in 5...9 {
            #expect(board.apply(heartbeat([sample("api", .up, at: Double(second))]), now: at(Double(second))).isEmpty)
        }
        #expect(board.services["worker"]?.status == .stale)
        #expect(board.services["worker"]?.reason == "no health for 9 s")

        // An out-of-cadence health update for worker brings it back at once.
        let update = board.apply(
            HealthUpdate(agentId: "agt_1", services: [sample("worker", .degraded, at: 9.5)]),
            now: at(9.5)
        )
        #expect(changes(update) == [Change("service:worker", "STALE", "UNHEALTHY")])
        #expect(board.services["api"]?.status == .healthy)
    }

    /// A service moves only with a report the broker accepted (an owner's re-enrolment, a forgotten
    /// code claimed again); a heartbeat naming another agent's service is ignored.
    @Test func aServiceMovesWithAReportNotWithAHeartbeat() {
        var board = StatusBoard(thresholds: boardThresholds)
        _ = board.apply(heartbeat("agt_1", code: "edge-1", [sample("api", .up)]), now: t0)
        #expect(
            board.apply(heartbeat("agt_2", code: "edge-2", [sample("api", .down)]), now: at(1)).map(\.subject) == [
                "agent:agt_2"
            ]
        )
        #expect(board.services["api"]?.agentId == "agt_1")
        #expect(board.services["api"]?.health?.status == .up, "agt_2 cannot speak for agt_1's service")
        #expect(board.undeclared == 1)

        _ = board.apply(
            ServiceReport(
                agentId: "agt_2",
                agentCode: "edge-2",
                services: [ServiceManifest(code: "api", name: "API", version: "1", runtime: "go")]
            ),
            now: at(1.5)
        )
        #expect(board.services["api"]?.agentId == "agt_2")
        #expect(board.agents["agt_2"]?.services == ["api"])
        #expect(board.agents["agt_1"]?.services == [])
    }

    /// Design §5: an agent speaks only for the services it declared, up to a cap.
    @Test func heartbeatsSpeakOnlyForDeclaredServicesUpToACap() {
        var board = StatusBoard(thresholds: boardThresholds)
        let many = (0..<2_500).map { sample("svc-\($0)", .up) }
        _ = board.apply(heartbeat(many), now: t0)
        #expect(board.services.count == StatusBoard.maxServicesPerAgent, "before any report, at most the cap")
        #expect(board.undeclared == 2_500 - StatusBoard.maxServicesPerAgent)

        var declared = StatusBoard(thresholds: boardThresholds)
        _ = declared.apply(
            ServiceReport(
                agentId: "agt_1",
                agentCode: "edge-1",
                services: [ServiceManifest(code: "api", name: "API", version: "1", runtime: "go")]
            ),
            now: t0
        )
        _ = declared.apply(heartbeat([sample("api", .up), sample("intruder", .up)]), now: at(1))
        #expect(declared.services.keys.sorted() == ["api"], "a report declares the services; others are ignored")
        #expect(declared.undeclared == 1)
        #expect(declared.summary.services["HEALTHY"] == 1)
        #expect(declared.summary.totalServices == 1)
    }

    /// A code taken provisionally from a heartbeat, then left out of the agent's first report, was
    /// never its service: it leaves the board and its counts.
    @Test func aReportRemovesProvisionalServicesItDoesNotDeclare() {
        var board = StatusBoard(thresholds: boardThresholds)
        _ = board.apply(heartbeat([sample("api", .up), sample("typo-api", .up)]), now: t0)
        #expect(board.services.keys.sorted() == ["api", "typo-api"])
        _ = board.apply(
            ServiceReport(
                agentId: "agt_1",
                agentCode: "edge-1",
                services: [ServiceManifest(code: "api", name: "API", version: "1", runtime: "go")]
            ),
            now: at(1)
        )
        #expect(board.services.keys.sorted() == ["api"])
        #expect(board.agents["agt_1"]?.services == ["api"])
        #expect(board.summary.totalServices == 1)
        #expect(board.row("typo-api", now: at(1)) == nil)
    }

    @Test func sweepCoversEveryAgentInAStableOrder() {
        var board = StatusBoard(thresholds: boardThresholds)
        _ = board.apply(heartbeat("agt_b", code: "b", [sample("svc-b", .up)]), now: t0)
        _ = board.apply(heartbeat("agt_a", code: "a", [sample("svc-a", .up)]), now: t0)
        let offline = board.sweep(now: at(5))
        #expect(
            changes(offline) == [
                Change("agent:agt_a", "ONLINE", "OFFLINE"),
                Change("service:svc-a", "HEALTHY", "OFFLINE"),
                Change("agent:agt_b", "ONLINE", "OFFLINE"),
                Change("service:svc-b", "HEALTHY", "OFFLINE"),
            ]
        )
    }

    @Test func aRescheduledAgentIsSweptAtItsLatestDeadlineOnly() {
        var board = healthyBoard()
        // Each heartbeat files the agent at a later slot; the earlier entries stay behind and are skipped.
        for second in 1...4 { _ = board.apply(heartbeat([sample("api", .up)]), now: at(Double(second))) }
        #expect(board.sweep(now: at(3.5)).isEmpty, "the first heartbeat's deadline no longer holds")
        #expect(board.sweep(now: at(7)).isEmpty, "nor the third's")
        #expect(changes(board.sweep(now: at(7.5))) == [Change("service:api", "HEALTHY", "STALE")])
        #expect(board.sweep(now: at(8)).isEmpty, "swept once, not once per entry left behind")
        #expect(changes(board.sweep(now: at(9))).contains(Change("agent:agt_1", "ONLINE", "OFFLINE")))
    }

    @Test func anAgentsServicesAreKeptInOrderAndRecomputedInOrder() {
        var board = StatusBoard(thresholds: boardThresholds)
        let first = board.apply(heartbeat([sample("zeta", .up), sample("alpha", .down), sample("mid", .up)]), now: t0)
        #expect(board.agents["agt_1"]?.services == ["alpha", "mid", "zeta"])
        #expect(
            changes(first) == [
                Change("agent:agt_1", "PENDING", "ONLINE"),
                Change("service:alpha", nil, "UNHEALTHY"),
                Change("service:mid", nil, "HEALTHY"),
                Change("service:zeta", nil, "HEALTHY"),
            ]
        )
        // A store saved before the board kept them in order gives them back as they were added.
        let loaded = StatusBoard(
            thresholds: boardThresholds,
            agents: [board.agents["agt_1"]!].map { agent in
                var unordered = agent
                unordered.services.reverse()
                return unordered
            },
            services: Array(board.services.values)
        )
        #expect(loaded.agents["agt_1"]?.services == ["alpha", "mid", "zeta"])
    }

    @Test func aHeartbeatThatChangesOnlyTimesAgesTheStateAndAChangeDirtiesIt() {
        var board = healthyBoard()
        board.clearDirty()
        _ = board.apply(heartbeat([sample("api", .up)]), now: at(1))
        #expect(board.dirtyAgents.isEmpty && board.dirtyServices.isEmpty)
        #expect(board.agedAgents == ["agt_1"] && board.agedServices == ["api"])
        _ = board.apply(heartbeat([sample("api", .degraded)]), now: at(2))
        #expect(board.dirtyServices == ["api"], "a new health status is saved whole")
        board.clearDirty()
        #expect(board.agedAgents.isEmpty && board.agedServices.isEmpty)
        _ = board.apply(heartbeat(digest: "d2", [sample("api", .degraded)]), now: at(3))
        #expect(board.dirtyAgents == ["agt_1"], "a new manifest digest is saved whole")
        #expect(board.agents["agt_1"]?.heartbeatDigest == "d2")
        #expect(board.agedServices == ["api"])
    }

    @Test func clearDirtyEmptiesTheDirtySets() {
        var board = healthyBoard()
        #expect(!board.dirtyAgents.isEmpty)
        board.clearDirty()
        #expect(board.dirtyAgents.isEmpty)
        #expect(board.dirtyServices.isEmpty)
        #expect(board.sweep(now: at(1)).isEmpty)
        #expect(board.dirtyServices.isEmpty, "a sweep without change dirties nothing")
        _ = board.sweep(now: at(3.5))
        #expect(board.dirtyServices == ["api"])
    }

    /// Simulates a restart: a board rebuilt from its own state emits nothing new at the same instant,
    /// and then evolves exactly like the original.
    @Test(arguments: [0.0, 3.5, 5.0, 9.0])
    func rebuiltBoardEmitsNoTransitions(_ restartAt: Double) {
        var original = StatusBoard(thresholds: boardThresholds)
        _ = original.apply(heartbeat([sample("api", .up), sample("worker", .degraded)]), now: t0)
        _ = original.apply(
            ServiceReport(
                agentId: "agt_1",
                agentCode: "edge-1",
                services: [ServiceManifest(code: "api", name: "API", version: "1", runtime: "swift")]
            ),
            now: t0
        )
        _ = original.apply(heartbeat("agt_2", code: "edge-2", [sample("db", .up)]), now: t0)
        _ = original.setAdminStatus(.disabled, agentId: "agt_2", now: t0)
        _ = original.sweep(now: at(restartAt))

        var rebuilt = StatusBoard(
            thresholds: boardThresholds,
            agents: Array(original.agents.values),
            services: Array(original.services.values)
        )
        #expect(rebuilt.agents == original.agents)
        #expect(rebuilt.services == original.services)
        #expect(rebuilt.dirtyAgents.isEmpty)
        #expect(rebuilt.sweep(now: at(restartAt)).isEmpty)

        for later in [restartAt + 0.5, 4, 5, 12] where later >= restartAt {
            #expect(changes(rebuilt.sweep(now: at(later))) == changes(original.sweep(now: at(later))), "at +\(later) s")
        }
        #expect(rebuilt.agents == original.agents)
        #expect(rebuilt.services == original.services)
    }
}

struct StatusBoardOwnershipTests {
    /// A service that moves to another agent must follow it: the old agent's silence must not take it
    /// OFFLINE while the new owner keeps reporting it healthy.
    @Test
    func movedServiceIsNotJudgedByItsFormerAgent() {
        var board = StatusBoard(thresholds: boardThresholds)
        _ = board.apply(heartbeat("agt_1", code: "edge-1", [sample("api", .up)]), now: t0)
        _ = board.apply(
            ServiceReport(
                agentId: "agt_2",
                agentCode: "edge-2",
                services: [ServiceManifest(code: "api", name: "API", version: "1", runtime: "go")]
            ),
            now: at(1)
        )
        _ = board.apply(heartbeat("agt_2", code: "edge-2", [sample("api", .up)]), now: at(1))
        // agt_1 goes quiet; agt_2 keeps heartbeating with api UP.
        for second in 2...5 {
            _ = board.apply(heartbeat("agt_2", code: "edge-2", [sample("api", .up)]), now: at(Double(second)))
        }
        let sweep = board.sweep(now: at(5))
        #expect(changes(sweep) == [Change("agent:agt_1", "ONLINE", "OFFLINE")])
        #expect(board.services["api"]?.status == .healthy)
        #expect(board.agents["agt_1"]?.services.contains("api") == false)
    }
}
