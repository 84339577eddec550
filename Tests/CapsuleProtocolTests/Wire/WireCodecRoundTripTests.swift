import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

/// Whole seconds so the millisecond date encoding round-trips exactly.
let sampleDate = Date(timeIntervalSince1970: 1_700_000_000)

/// One body type with a representative value, and a round trip through the codec.
struct BodySample: Sendable, CustomTestStringConvertible {
    var name: String
    var type: MessageType
    var roundTrip: @Sendable (_ topic: String?) throws -> Void

    init<B: Codable & Hashable & Sendable>(_ name: String, _ type: MessageType, _ body: B) {
        self.name = name
        self.type = type
        self.roundTrip = { topic in
            let header = Header(
                type: type,
                id: "2F1B6C1E-4C1A-4E0C-9C9B-5D5E3D2F0A11",
                sender: "agt_0123456789ab",
                ts: 1_700_000_000_123,
                seq: 42,
                corr: "corr-1"
            )
            let frames = WireCodec.encode(topic: topic, header: header, body: body)
            #expect(frames.count == (topic == nil ? 2 : 3))
            let message = try WireCodec.decode(frames, hasTopic: topic != nil)
            #expect(message.topic == topic)
            #expect(message.header == header)
            #expect(message.header.v == WireCodec.version)
            let decoded = try message.decode(B.self)
            #expect(decoded == body)
            // Re-encoding the decoded value gives the same JSON (key order aside).
            let again = WireCodec.encode(topic: topic, header: message.header, body: decoded)
            #expect(again.count == frames.count)
            #expect(
                try JSONValue.parse(String(decoding: again.last!, as: UTF8.self))
                    == JSONValue.parse(String(decoding: frames.last!, as: UTF8.self))
            )
        }
    }

    var testDescription: String { name }
}

private let health = ServiceHealth(
    code: "billing",
    health: HealthReport(status: .degraded, message: "slow db", details: .object(["latencyMs": .number(250)])),
    sampledAt: sampleDate
)
private let manifest = ServiceManifest(
    code: "billing",
    name: "Billing",
    version: "2.0.0",
    runtime: "swift",
    configs: [
        ConfigItem(key: "region", value: .string("eu")),
        ConfigItem(key: "dsn", sensitive: true, secretRef: "vault:dsn"),
    ],
    actions: [
        ActionDefinition(
            name: "scale",
            dangerLevel: .high,
            requiresConfirmation: true,
            inputSchema: .object(["type": .string("object")]),
            timeoutSeconds: 30
        )
    ]
)

private let bodySamples: [BodySample] = [
    .init("ServiceHealth", .health, health),
    .init(
        "Heartbeat",
        .heartbeat,
        Heartbeat(
            agentId: "agt_1",
            agentCode: "edge-1",
            manifestDigest: "00ff00ff00ff00ff",
            intervalSeconds: 30,
            services: [health],
            droppedStale: 2
        )
    ),
    .init(
        "Heartbeat (no services)",
        .heartbeat,
        Heartbeat(
            agentId: "agt_1",
            agentCode: "edge-1",
            manifestDigest: "0",
            intervalSeconds: 0.5,
            services: []
        )
    ),
    .init("HealthUpdate", .health, HealthUpdate(agentId: "agt_1", services: [health, health])),
    .init("ServiceReport", .serviceReport, ServiceReport(agentId: "agt_1", agentCode: "edge-1", services: [manifest])),
    .init("Beacon", .beacon, Beacon(publisher: "broker", lastSeq: UInt64(Int64.max))),
    .init(
        "AgentHello",
        .agentHello,
        AgentHello(
            agentCode: "edge-1",
            services: ["billing", "search"],
            manifestDigest: "abc",
            software: "capsule-agent/1.0",
            enrollmentToken: "tok_123"
        )
    ),
    .init(
        "AgentHello (no token)",
        .agentHello,
        AgentHello(agentCode: "edge-1", services: [], manifestDigest: "abc", software: "x")
    ),
    .init("AgentWelcome", .agentWelcome, AgentWelcome(agentId: "agt_1", heartbeatSeconds: 15)),
    .init(
        "CommandDispatch",
        .commandDispatch,
        CommandDispatch(
            commandId: "cmd_1",
            serviceCode: "billing",
            action: "scale",
            payload: .object(["replicas": .number(3), "list": .array([.null, .bool(true), .string("é\u{0}\"/")])]),
            expiresAt: sampleDate
        )
    ),
    .init("CommandRef (ack)", .commandAck, CommandRef(commandId: "cmd_1")),
    .init("CommandRef (cancel)", .commandCancel, CommandRef(commandId: "cmd_1", reason: "operator changed their mind")),
    .init("ErrorBody", .error, ErrorBody(code: "forbidden", message: "no")),
    .init(
        "CommandResult (success)",
        .commandResult,
        CommandResult(
            commandId: "cmd_1",
            success: true,
            message: "ok",
            data: .object(["replicas": .number(3)])
        )
    ),
    .init(
        "CommandResult (failure)",
        .commandResult,
        CommandResult(
            commandId: "cmd_1",
            success: false,
            error: ErrorBody(code: "boom", message: "it broke")
        )
    ),
    .init("ReportRequest", .reportRequest, ReportRequest(agentId: "agt_1", reason: "digest mismatch")),
    .init("WorkerReady", .workerReady, WorkerReady(service: "aggregator")),
    .init(
        "Request",
        .request,
        Request(service: "broker", op: "command.list", params: .object(["limit": .number(5)]), caller: "operator:ann")
    ),
    .init("Request (defaults)", .request, Request(service: "audit", op: "query")),
    .init("Reply (result)", .reply, Reply(result: .array([.number(1), .number(2.5)]))),
    .init("Reply (error)", .reply, Reply(error: ErrorBody(code: "unknown_op", message: "no such op"))),
    .init(
        "AuditEvent",
        .event,
        AuditEvent(
            publisher: "broker",
            seq: 7,
            at: sampleDate,
            action: "command.created",
            subject: "command:cmd_1",
            actor: "operator:ann",
            result: .failure,
            from: "PENDING",
            to: "RUNNING",
            reason: "why",
            details: .object(["n": .number(1)])
        )
    ),
]

struct WireCodecRoundTripTests {
    @Test(arguments: bodySamples, [nil, "hb.agt_1"] as [String?])
    func roundTrip(_ sample: BodySample, topic: String?) throws {
        try sample.roundTrip(topic)
    }

    @Test func everyMessageTypeRoundTripsInTheHeader() throws {
        for type in MessageType.allCases {
            let header = Header(type: type, id: "id-\(type.rawValue)", sender: "broker", ts: 1, seq: 0)
            let message = try WireCodec.decode(
                WireCodec.encode(header: header, body: WorkerReady(service: "x")),
                hasTopic: false
            )
            #expect(message.header.type == type)
            #expect(message.header.corr == nil)
        }
    }

    @Test func serviceReportDigestMatchesItsManifests() {
        let report = ServiceReport(agentId: "agt_1", agentCode: "edge-1", services: [manifest])
        #expect(report.digest == ManifestDigest.of([manifest]))
    }

    @Test func replyCarriesExactlyOneOfResultAndError() throws {
        let ok = try JSONValue.parse(String(decoding: WireCodec.json(Reply(result: .object([:]))), as: UTF8.self))
        #expect(ok["ok"] == .bool(true))
        #expect(ok["result"] == .object([:]))
        #expect(ok["error"] == nil)
        let failed = try JSONValue.parse(
            String(decoding: WireCodec.json(Reply(error: ErrorBody(code: "c", message: "m"))), as: UTF8.self)
        )
        #expect(failed["ok"] == .bool(false))
        #expect(failed["result"] == nil)
        #expect(failed["error"]?["code"] == .string("c"))
    }

    @Test func datesTravelAsEpochMilliseconds() throws {
        let frames = WireCodec.encode(
            header: Header(type: .commandDispatch, id: "1", sender: "broker", ts: 5),
            body: CommandDispatch(
                commandId: "c",
                serviceCode: "s",
                action: "a",
                payload: .null,
                expiresAt: Date(timeIntervalSince1970: 1.5)
            )
        )
        let body = try JSONValue.parse(String(decoding: frames[1], as: UTF8.self))
        #expect(body["expiresAt"] == .number(1500))
        let header = try JSONValue.parse(String(decoding: frames[0], as: UTF8.self))
        #expect(header["v"] == .number(1))
        #expect(header["type"] == .string("command.dispatch"))
    }
}

struct ParsedReadingTests {
    /// The routing head of a request reads the same through JSONParser as through JSONDecoder, and
    /// a head without `op` is refused either way.
    @Test func aRequestHeadReadsTheSameBothWays() throws {
        let body = Data(#"{"service":"broker","op":"command.create","params":{"service":"s","action":"a"}}"#.utf8)
        let fast = try RequestHead(fields: JSONParser.members(body))
        let reference = try WireCodec.decoder.decode(RequestHead.self, from: body)
        #expect(fast.service == reference.service && fast.op == reference.op)
        #expect(fast.op == "command.create")
        let headless = Data(#"{"service":"broker"}"#.utf8)
        #expect(throws: JSONFieldError.self) { try RequestHead(fields: JSONParser.members(headless)) }
        #expect(throws: (any Error).self) { try WireCodec.decoder.decode(RequestHead.self, from: headless) }
    }
}
