import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

/// Journal pages decode through ``JSONParser`` (``WireMessage/decodeReply(_:)``); the result must
/// be what `JSONDecoder` makes of the same bytes.
struct JSONValueDecodableTests {
    static let page = JournalPage(
        incarnation: "inc_0123456789ab",
        lastSeq: 40,
        events: [
            AuditEvent(
                publisher: "broker",
                incarnation: "inc_0123456789ab",
                seq: 11,
                at: Date(timeIntervalSince1970: 1_764_650_000.123),
                action: "service.transition",
                subject: "service:billing",
                actor: "system",
                result: .failure,
                from: "HEALTHY",
                to: "DEGRADED",
                reason: "tab\there, quote \" and é",
                details: .object(["n": .number(1.5), "list": .array([.bool(true), .null, .string("x")])])
            ),
            AuditEvent(
                publisher: "broker",
                seq: 12,
                at: Date(timeIntervalSince1970: 0),
                action: "token.created",
                subject: "token:tok_1",
                actor: "operator:ann"
            ),
        ],
        prunedThrough: 10
    )

    static func reply(_ body: Data) throws -> WireMessage {
        let header = Header(type: .reply, id: "r-1", sender: "broker", ts: 0, corr: "q-1")
        return try WireCodec.decode([WireCodec.json(header), body], hasTopic: false)
    }

    @Test(arguments: [page, JournalPage(incarnation: "", lastSeq: 0, events: [])])
    func aPageReadsAsJSONDecoderReadsIt(_ page: JournalPage) throws {
        let body = WireCodec.json(TypedReply(result: page))
        let reference = try WireCodec.decoder.decode(TypedReply<JournalPage>.self, from: body)
        let fast = try Self.reply(body).decodeReply(JournalPage.self)
        #expect(fast.result == reference.result)
        #expect(fast.result == page)
        #expect(fast.ok)
    }

    @Test func aPageSplicedFromStoredEventsReadsTheSame() throws {
        let events = Self.page.events.map { String(decoding: WireCodec.json($0), as: UTF8.self) }
        let json =
            #"{"incarnation":"inc_0123456789ab","lastSeq":40,"events":[\#(events.joined(separator: ","))],"prunedThrough":10}"#
        let body = TypedReply<JournalPage>.body(encodedResult: Data(json.utf8))
        #expect(try Self.reply(body).decodeReply(JournalPage.self).result == Self.page)
    }

    @Test func anErrorReplyStillDecodes() throws {
        let body = WireCodec.json(Reply(error: ErrorBody(.unavailable, "journal store unavailable")))
        let reply = try Self.reply(body).decodeReply(JournalPage.self)
        #expect(reply.ok == false)
        #expect(reply.error?.code == .unavailable)
    }

    @Test(arguments: [
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[{"publisher":"broker","seq":1,"at":0,"action":"a","subject":"s","actor":"x","result":"BOGUS"}]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":-1,"events":[]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":{}}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[{"publisher":"broker","seq":1.5,"at":0,"action":"a","subject":"s","actor":"x","result":"SUCCESS"}]}}"#,
        #"{"ok":true,"result":"#,
    ])
    func aMalformedPageIsAMalformedBody(_ text: String) {
        #expect(throws: WireError.self) { try Self.reply(Data(text.utf8)).decodeReply(JournalPage.self) }
        #expect(throws: (any Error).self) {
            try WireCodec.decoder.decode(TypedReply<JournalPage>.self, from: Data(text.utf8))
        }
    }
}

/// Headers and heartbeats are read through ``JSONParser`` on every hop (``WireCodec/decodeHeader(_:)``,
/// ``WireMessage/decode(_:)``); each must read as `JSONDecoder` reads the same bytes, and what
/// `JSONDecoder` refuses must still be refused, with its message.
struct ParsedHeartbeatTests {
    static let heartbeat = Heartbeat(
        agentId: "agt_5d1c9e07a2b4",
        agentCode: "billing-host-1",
        manifestDigest: "9f3b2c41d07e6a85",
        intervalSeconds: 5,
        services: [
            ServiceHealth(
                code: "billing-bridge",
                health: HealthReport(
                    status: .degraded,
                    message: "slow é \"quoted\"",
                    details: .object(["lag": .number(3)])
                ),
                sampledAt: Date(timeIntervalSince1970: 1_764_650_000.123)
            ),
            ServiceHealth(code: "worker", health: HealthReport(status: .up), sampledAt: Date(timeIntervalSince1970: 0)),
        ],
        droppedStale: 2
    )

    static let header = Header(
        type: .heartbeat,
        id: "4f1a9c2e7b3d5a60-1a",
        sender: "agt_5d1c9e07a2b4",
        ts: 1_764_650_000_123,
        seq: 42,
        caller: "operator:ann"
    )

    @Test func aHeaderAndAHeartbeatReadAsJSONDecoderReadsThem() throws {
        let frames = WireCodec.encode(topic: "hb.agt_5d1c9e07a2b4", header: Self.header, body: Self.heartbeat)
        let message = try WireCodec.decode(frames, hasTopic: true)
        #expect(message.header == (try WireCodec.decoder.decode(Header.self, from: frames[1])))
        #expect(message.header == Self.header)
        let parsed = try message.decode(Heartbeat.self)
        #expect(parsed == (try WireCodec.decoder.decode(Heartbeat.self, from: frames[2])))
        #expect(parsed == Self.heartbeat)
        #expect(try Heartbeat(jsonValue: JSONParser.parse(frames[2])) == Self.heartbeat)
    }

    @Test(arguments: [
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[],"droppedStale":1.5}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":{},"droppedStale":0}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[{"code":"s","health":{"status":"BOGUS"},"sampledAt":0}],"droppedStale":0}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[]}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":"5","services":[],"droppedStale":0}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[],"droppedStale":0"#,
    ])
    func aHeartbeatJSONDecoderRefusesIsRefused(_ text: String) throws {
        let header = WireCodec.json(Header(type: .heartbeat, id: "h", sender: "a", ts: 0))
        let message = try WireCodec.decode([Data("hb.a".utf8), header, Data(text.utf8)], hasTopic: true)
        #expect(throws: (any Error).self) { try WireCodec.decoder.decode(Heartbeat.self, from: Data(text.utf8)) }
        let error = #expect(throws: WireError.self) { try message.decode(Heartbeat.self) }
        #expect(error?.code == .malformedBody)
    }

    @Test(arguments: [
        (#"{"v":2,"type":"heartbeat","id":"h","sender":"a","ts":0,"seq":0}"#, WireError.Code.unsupportedVersion),
        (#"{"v":1,"type":"nonsense","id":"h","sender":"a","ts":0,"seq":0}"#, .unknownType),
        (#"{"v":1,"type":"heartbeat","id":"h","sender":"a","ts":0}"#, .malformedHeader),
        (#"{"v":1,"type":"heartbeat","id":7,"sender":"a","ts":0,"seq":0}"#, .malformedHeader),
    ])
    func aHeaderIsCheckedAsBefore(_ text: String, _ code: WireError.Code) throws {
        let error = #expect(throws: WireError.self) { try WireCodec.decodeHeader(Data(text.utf8)) }
        #expect(error?.code == code)
    }

    @Test func aSequencePast2To53IsReadExactly() throws {
        // The parser's numbers are Doubles, exact only to 2^53: past it, JSONDecoder reads the header.
        let text = #"{"v":1,"type":"heartbeat","id":"h","sender":"a","ts":0,"seq":9007199254740993}"#
        #expect(try WireCodec.decodeHeader(Data(text.utf8)).seq == 9_007_199_254_740_993)
    }
}
