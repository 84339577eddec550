import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

/// The hand-written JSON of headers and audit events says what `JSONEncoder` says: the same members
/// and values (read back through both decoders), so a peer cannot tell which one wrote a message.
struct JSONWritableTests {
    static let events: [AuditEvent] = [
        AuditEvent(
            publisher: "broker",
            seq: 1,
            at: Date(timeIntervalSince1970: 1_700_000_000),
            action: "command.created",
            subject: "command:cmd_1",
            actor: "operator:alice"
        ),
        AuditEvent(
            publisher: "aggregator",
            incarnation: "inc_0123456789ab",
            seq: 9_007_199_254_740_991,
            at: Date(timeIntervalSince1970: 1_764_706_310.123_456_7),
            action: "service.transition",
            subject: "service:a/b \"quoted\"",
            actor: "agent:ag_1\\x",
            result: .failure,
            from: "HEALTHY",
            to: "DEGRADED",
            reason: "tab\there, nl\nthere, é 中 😀 \u{01}",
            details: .object([
                "z": .array([.number(1), .number(-0.5), .null, .bool(false)]), "a": .string("/path"),
                "n": .object(["deep": .number(1e21)]), "password": .string("hunter2"),
            ])
        ),
    ]

    @Test(arguments: events) func anEventWritesWhatTheEncoderWrites(_ event: AuditEvent) throws {
        let written = event.jsonData
        let encoded = try WireCodec.encoder.encode(event)
        #expect(try JSONParser.parse(written) == JSONParser.parse(encoded))
        #expect(try WireCodec.decoder.decode(AuditEvent.self, from: written) == event)
        #expect(try AuditEvent(jsonValue: JSONParser.parse(written)) == event)
        // A live event's body is read from its top-level members (the audit writer's path).
        #expect(try AuditEvent(fields: JSONParser.members(written)) == event)
        let frames = WireCodec.encode(
            topic: Topic.event(event.action),
            header: Header(type: .event, id: "e1", sender: event.publisher, ts: 0, seq: event.seq),
            body: event
        )
        #expect(try WireCodec.decode(frames, hasTopic: true).decode(AuditEvent.self) == event)
    }

    @Test func theRedactedDetailsStayRedactedInTheText() throws {
        let text = String(decoding: Self.events[1].jsonData, as: UTF8.self)
        #expect(!text.contains("hunter2"))
        #expect(text.contains(#""a":"/path""#))
    }

    static let headers: [Header] = [
        Header(type: .heartbeat, id: "m1", sender: "ag_1", ts: 1_700_000_000_123, seq: 7),
        Header(
            type: .reply,
            id: "m2",
            sender: "broker",
            ts: 0,
            seq: 0,
            corr: "req \"1\"",
            caller: "operator:bob"
        ),
    ]

    @Test(arguments: headers) func aHeaderWritesWhatTheEncoderWrites(_ header: Header) throws {
        let written = header.jsonData
        #expect(try JSONParser.parse(written) == JSONParser.parse(WireCodec.encoder.encode(header)))
        #expect(try WireCodec.decodeHeader(written) == header)
    }

    static let heartbeats: [Heartbeat] = [
        Heartbeat(
            agentId: "ag_1",
            agentCode: "bridge",
            manifestDigest: "sha256:00ff",
            intervalSeconds: 5,
            services: []
        ),
        Heartbeat(
            agentId: "ag_2",
            agentCode: "pool \"x\"",
            manifestDigest: "d",
            intervalSeconds: 2.5,
            services: [
                ServiceHealth(
                    code: "svc-a",
                    health: HealthReport(status: .up),
                    sampledAt: Date(timeIntervalSince1970: 1_764_706_310.123)
                ),
                ServiceHealth(
                    code: "svc-b",
                    health: HealthReport(
                        status: .degraded,
                        message: "slow é\n",
                        details: .object(["lag": .number(1.5), "tags": .array([.string("a"), .null])])
                    ),
                    sampledAt: Date(timeIntervalSince1970: 0)
                ),
            ],
            droppedStale: 3
        ),
    ]

    @Test(arguments: heartbeats) func aHeartbeatWritesWhatTheEncoderWrites(_ heartbeat: Heartbeat) throws {
        let written = heartbeat.jsonData
        #expect(try JSONParser.parse(written) == JSONParser.parse(WireCodec.encoder.encode(heartbeat)))
        #expect(try WireCodec.decoder.decode(Heartbeat.self, from: written) == heartbeat)
        #expect(try Heartbeat(jsonValue: JSONParser.parse(written)) == heartbeat)
    }

    @Test func framesOfAWritableBodyDecodeAsTheEncodersFrames() throws {
        let header = Self.headers[0]
        let frames = WireCodec.encode(topic: "evt.command.created", header: header, body: Self.events[0])
        let message = try WireCodec.decode(frames, hasTopic: true)
        #expect(message.topic == "evt.command.created")
        #expect(message.header == header)
        #expect(try WireCodec.fromJSON(AuditEvent.self, message.body) == Self.events[0])
    }
}
