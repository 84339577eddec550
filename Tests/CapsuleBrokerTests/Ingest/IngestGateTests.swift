import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation
import Testing

@testable import CapsuleBroker

private let created = Date(timeIntervalSince1970: 1_700_000_000)
private let agentId = "agt_000000000001"
private let agent = Principal(publicKey: "KEY", kind: .agent, identity: agentId, createdAt: created)
private let aggregator = Principal(publicKey: "KEY2", kind: .service, identity: "aggregator", createdAt: created)
private let alice = Principal(publicKey: "KEY3", kind: .operator, identity: "alice", role: .owner, createdAt: created)

private func frames(_ type: MessageType, topic: String, sender: String, body: Data) -> [Data] {
    let header = Header(type: type, id: "m1", sender: sender, ts: 1_700_000_000_000, seq: 1)
    return [Data(topic.utf8), WireCodec.json(header), body]
}

private func frames(_ type: MessageType, topic: String, sender: String, body: some Encodable) -> [Data] {
    frames(type, topic: topic, sender: sender, body: WireCodec.json(body))
}

private func manifest(_ code: String, actions: [String] = ["flush"]) -> ServiceManifest {
    ServiceManifest(
        code: code,
        name: code,
        version: "1",
        runtime: "swift",
        actions: actions.map { ActionDefinition(name: $0) }
    )
}

private func reportFrames(_ services: [ServiceManifest], agentId bodyAgent: String = agentId) -> [Data] {
    frames(
        .serviceReport,
        topic: Topic.report(agentId),
        sender: agentId,
        body: ServiceReport(agentId: bodyAgent, agentCode: "host-1", services: services)
    )
}

struct IngestGateTests {
    static let heartbeat = Heartbeat(
        agentId: agentId,
        agentCode: "host-1",
        manifestDigest: "0",
        intervalSeconds: 30,
        services: []
    )

    @Test func aHeartbeatOnItsTopicIsForwarded() {
        let verdict = IngestGate.check(
            frames: frames(.heartbeat, topic: Topic.heartbeat(agentId), sender: agentId, body: Self.heartbeat),
            principal: agent
        )
        #expect(verdict == .forward(.heartbeat, report: nil))
    }

    /// The header and topic prove who sent it; the aggregator checks the body. So the broker never
    /// decodes it, and even a body that is not JSON is forwarded.
    @Test(arguments: [MessageType.heartbeat, .health])
    func aHeartbeatOrHealthBodyIsNotDecoded(type: MessageType) {
        let topic = type == .heartbeat ? Topic.heartbeat(agentId) : Topic.health(agentId)
        let verdict = IngestGate.check(
            frames: frames(type, topic: topic, sender: agentId, body: Data("not json at all".utf8)),
            principal: agent
        )
        #expect(verdict == .forward(type, report: nil))
    }

    @Test func aHeaderSenderThatIsNotTheKeyIsAMismatch() {
        let verdict = IngestGate.check(
            frames: frames(
                .heartbeat,
                topic: Topic.heartbeat("agt_999999999999"),
                sender: "agt_999999999999",
                body: Self.heartbeat
            ),
            principal: agent
        )
        #expect(verdict == .identityMismatch(claimed: "agt_999999999999", type: .heartbeat))
    }

    @Test(arguments: [MessageType.event, .beacon, .agentHello, .commandResult, .request, .reply, .error])
    func anAgentMayPublishOnlyHeartbeatsHealthAndReports(type: MessageType) {
        let verdict = IngestGate.check(
            frames: frames(type, topic: "evt.x", sender: agentId, body: Data("{}".utf8)),
            principal: agent
        )
        #expect(verdict == .drop(reason: "not_allowed", detail: "\(type.rawValue) on ingest from a agent"))
    }

    @Test(arguments: [MessageType.heartbeat, .health, .serviceReport, .agentHello, .request])
    func aServiceMayPublishOnlyEventsAndBeacons(type: MessageType) {
        let verdict = IngestGate.check(
            frames: frames(type, topic: Topic.heartbeat("aggregator"), sender: "aggregator", body: Data("{}".utf8)),
            principal: aggregator
        )
        #expect(verdict == .drop(reason: "not_allowed", detail: "\(type.rawValue) on ingest from a service"))
    }

    /// An operator key publishes nothing on ingest (docs/protocol.md §5): not even what a service may.
    @Test(arguments: MessageType.allCases)
    func anOperatorMayPublishNothing(type: MessageType) {
        let topic = Topic.expected(for: type, sender: alice.sender, action: "agent.disabled") ?? "evt.agent.disabled"
        let verdict = IngestGate.check(
            frames: frames(type, topic: topic, sender: alice.sender, body: Data("{}".utf8)),
            principal: alice
        )
        #expect(verdict == .drop(reason: "not_allowed", detail: "\(type.rawValue) on ingest from a operator"))
    }

    @Test(
        arguments: [
            (MessageType.heartbeat, "hb.agt_999999999999"),
            (.heartbeat, "health.\(agentId)"),
            (.heartbeat, "hb."),
            (.health, Topic.heartbeat(agentId)),
            (.serviceReport, Topic.heartbeat(agentId)),
        ] as [(MessageType, String)]
    )
    func anAgentMessageOnAnotherTopicIsDropped(type: MessageType, topic: String) {
        let verdict = IngestGate.check(
            frames: frames(type, topic: topic, sender: agentId, body: Data("{}".utf8)),
            principal: agent
        )
        guard case .drop(let reason, _) = verdict else {
            Issue.record("\(type.rawValue) on \(topic) was not dropped: \(verdict)")
            return
        }
        #expect(reason == "topic_mismatch")
    }

    @Test(
        arguments: [
            (MessageType.event, "evt.service.transition", true),
            (.event, "evt.", true),
            (.event, "beacon.aggregator", false),
            (.event, "service.transition", false),
            (.beacon, "beacon.aggregator", true),
            (.beacon, "beacon.broker", false),
            (.beacon, "evt.beacon", false),
        ] as [(MessageType, String, Bool)]
    )
    func serviceTopics(type: MessageType, topic: String, forwarded: Bool) {
        let verdict = IngestGate.check(
            frames: frames(type, topic: topic, sender: "aggregator", body: Data("{}".utf8)),
            principal: aggregator
        )
        if forwarded {
            #expect(verdict == .forward(type, report: nil))
        } else if case .drop(let reason, _) = verdict {
            #expect(reason == "topic_mismatch")
        } else {
            Issue.record("\(type.rawValue) on \(topic) was not dropped: \(verdict)")
        }
    }

    @Test func framesThatDoNotDecodeAreDroppedWithTheCodecsReason() {
        let truncated = IngestGate.check(frames: [Data("hb.x".utf8), Data("{}".utf8)], principal: agent)
        #expect(truncated == .drop(reason: "truncated", detail: "expected 3 frames, got 2"))
        let longTopic = Data(repeating: UInt8(ascii: "h"), count: WireCodec.maxTopicBytes + 1)
        guard
            case .drop(let reason, _) = IngestGate.check(
                frames: [longTopic, Data("{}".utf8), Data("{}".utf8)],
                principal: agent
            )
        else {
            Issue.record("an oversized topic was not dropped")
            return
        }
        #expect(reason == "oversized")
    }

    @Test func aValidReportIsDecodedAndForwarded() {
        let services = [manifest("billing"), manifest("search", actions: ["reindex", "pause"])]
        let verdict = IngestGate.check(frames: reportFrames(services), principal: agent)
        #expect(
            verdict
                == .forward(
                    .serviceReport,
                    report: ServiceReport(agentId: agentId, agentCode: "host-1", services: services)
                )
        )
    }

    @Test func aReportThatDoesNotDecodeIsDropped() {
        let verdict = IngestGate.check(
            frames: frames(
                .serviceReport,
                topic: Topic.report(agentId),
                sender: agentId,
                body: Data(#"{"agentId":"x"}"#.utf8)
            ),
            principal: agent
        )
        guard case .drop(let reason, let detail) = verdict else {
            Issue.record("a malformed report was not dropped: \(verdict)")
            return
        }
        #expect(reason == "malformed_body")
        #expect(detail.contains("missing field"))
    }

    @Test func aReportForAnotherAgentIsAMismatch() {
        let verdict = IngestGate.check(
            frames: reportFrames([manifest("billing")], agentId: "agt_999999999999"),
            principal: agent
        )
        #expect(verdict == .identityMismatch(claimed: "agt_999999999999", type: .serviceReport))
    }

    @Test func exactlyTheMaximumNumberOfServicesIsAccepted() {
        let services = (0..<Limits.maxServicesPerAgent).map { manifest("svc-\($0)", actions: []) }
        guard case .forward(_, let report?) = IngestGate.check(frames: reportFrames(services), principal: agent) else {
            Issue.record("a report at the cap was refused")
            return
        }
        #expect(report.services.count == Limits.maxServicesPerAgent)
    }

    @Test(
        arguments: [
            (
                "one service too many", (0...Limits.maxServicesPerAgent).map { manifest("svc-\($0)", actions: []) },
                ErrorBody.Code.tooManyServices, "declares \(Limits.maxServicesPerAgent + 1) services"
            ),
            (
                "a duplicate code", [manifest("billing"), manifest("search"), manifest("billing")], .invalidIdentifier,
                "service code billing is declared twice"
            ),
            (
                "an uppercase code", [manifest("Billing")], .invalidIdentifier,
                "service code \"Billing\" is not a valid identifier"
            ),
            (
                "a code with a newline", [manifest("billing\nFORGED")], .invalidIdentifier,
                "service code \"billing\\nFORGED\""
            ),
            ("an empty code", [manifest("")], .invalidIdentifier, "service code \"\""),
            (
                "a code of 65 characters", [manifest(String(repeating: "a", count: 65))], .invalidIdentifier,
                "is not a valid identifier"
            ),
            (
                "an action name with a space", [manifest("billing", actions: ["flush", "drop all"])],
                .invalidIdentifier,
                "action name \"drop all\" is not a valid identifier"
            ),
            (
                "too many actions", [manifest("billing", actions: (0...Limits.maxActionsPerService).map { "a\($0)" })],
                .tooManyServices,
                "declares \(Limits.maxActionsPerService + 1) actions"
            ),
        ] as [(String, [ServiceManifest], ErrorBody.Code, String)]
    )
    func aBadReportIsRefusedWhole(_ name: String, services: [ServiceManifest], code: ErrorBody.Code, says: String) {
        let verdict = IngestGate.check(frames: reportFrames(services), principal: agent)
        guard case .refuseReport(let refused, let reason) = verdict else {
            Issue.record("\(name): not refused: \(verdict)")
            return
        }
        #expect(refused == code, "\(name)")
        #expect(reason.contains(says), "\(name): \(reason)")
    }
}
