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
