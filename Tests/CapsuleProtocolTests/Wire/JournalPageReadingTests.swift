import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

/// A journal page is read member by member first (`JournalPage(reading:)`, through
/// `WireMessage.decodeReply`); where that reading gives a page, the full reading (`JSONParser.parse`,
/// then `JournalPage(fields:)`) must give the same one; where it declines, the full reading decides.
struct JournalPageReadingTests {
    private func fastReading(_ body: Data) -> JournalPage? {
        WireMessage.readSuccess(body, JournalPage.self) as? JournalPage
    }

    private func fullReading(_ body: Data) -> JournalPage? {
        guard let json = try? JSONParser.parse(body), json.member("ok") == .bool(true),
            let result = json.member("result")
        else { return nil }
        return try? JournalPage(fields: result)
    }

    @Test func readsWhatTheBrokerSendsAsTheFullReadingDoes() throws {
        let body = WireCodec.json(TypedReply(result: JSONValueDecodableTests.page))
        let fast = try #require(fastReading(body))
        #expect(fast == JSONValueDecodableTests.page)
        #expect(fast == fullReading(body))
    }

    @Test func readsNullOptionalsAndAnyOrder() throws {
        let text = #"""
            { "result": { "prunedThrough": null, "events": [ { "details": null, "reason": null, "to": null,
              "from": null, "result": "FAILURE", "actor": "a", "subject": "s", "action": "x", "at": 1500,
              "seq": 3, "incarnation": null, "publisher": "w\u00e9" } ], "lastSeq": 3, "incarnation": "" },
              "ok": true }
            """#
        let body = Data(text.utf8)
        let fast = try #require(fastReading(body))
        #expect(fast == fullReading(body))
        #expect(fast.prunedThrough == nil)
        let event = try #require(fast.events.first)
        #expect(event.publisher == "wé")
        #expect(event.incarnation == "")
        #expect(event.details == nil)
        #expect(event.at == Date(timeIntervalSince1970: 1.5))
    }

    /// Each of these the member-by-member reading leaves to the full one (which accepts some,
    /// refuses others).
    @Test(arguments: [
        #"{"ok":false,"error":{"code":"unavailable","message":"m"}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[]},"error":null}"#,
        #"{"ok":true,"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[],"extra":1}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"lastSeq":2,"events":[]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1.5,"events":[]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":9007199254740992,"events":[]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","events":[]}}"#,
        #"{"ok":true,"result":{"incarnation":null,"lastSeq":1,"events":[]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[{"publisher":"b","seq":1,"at":0,"action":"a","subject":"s","actor":"x","result":"BOGUS"}]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[{"publisher":"b","seq":1,"at":0,"action":"a","subject":"s","actor":"x","result":"SUCCESS","more":1}]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[{"publisher":"b","seq":1,"at":0,"action":"a","subject":"s","result":"SUCCESS"}]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[{"publisher":"b","seq":1,"at":0,"action":"a","subject":"s","actor":"x","actor":"y","result":"SUCCESS"}]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[{"publisher":"b","seq":-1,"at":0,"action":"a","subject":"s","actor":"x","result":"SUCCESS"}]}}"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[]}} x"#,
        #"{"ok":true,"result":{"incarnation":"i","lastSeq":1,"events":[],}}"#,
        #"{"ok":"true","result":{"incarnation":"i","lastSeq":1,"events":[]}}"#,
        #"{"result":{"incarnation":"i","lastSeq":1,"events":[]}}"#,
        #"[]"#, #""#, #"{"#,
    ])
    func declinesEverythingElse(text: String) {
        #expect(fastReading(Data(text.utf8)) == nil, "\(text)")
    }

    /// A declined body still decodes as before: an error reply as an error, a page with an unknown
    /// member as the page.
    @Test func aDeclinedBodyFallsBackToTheFullReading() throws {
        let extra = #"{"ok":true,"result":{"incarnation":"i","lastSeq":0,"events":[],"extra":1}}"#
        let page = try JSONValueDecodableTests.reply(Data(extra.utf8)).decodeReply(JournalPage.self)
        #expect(page.result == JournalPage(incarnation: "i", lastSeq: 0, events: []))
    }

    /// A live event on the bus: where `AuditEvent.read` reads one, the full reading of the body
    /// (`JSONParser.members`, then `AuditEvent(fields:)`) reads the same, on real and damaged events.
    @Test func aLiveEventReadsAsTheFullReadingDoes() throws {
        func full(_ body: Data) -> AuditEvent? {
            guard let members = try? JSONParser.members(body) else { return nil }
            return try? AuditEvent(fields: members)
        }
        let real = JSONValueDecodableTests.page.events[0]
        let body = WireCodec.json(real)
        #expect(AuditEvent.read(body) == real)
        #expect(AuditEvent.read(body) == full(body))
        #expect(
            AuditEvent.read(
                Data(
                    #"{"publisher":"b","seq":1,"at":0,"action":"a","subject":"s","actor":"x","result":"SUCCESS"} x"#
                        .utf8
                )
            ) == nil
        )
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]:," \0123456789.-eEabcdefnlrstu_\"#.utf8) + [0x7F, 0xC3, 0xA9, 0x00, 0x0A]
        var read = 0
        for _ in 0..<4_000 {
            let bytes = randomlyDamaged([UInt8](body), alphabet: alphabet, using: &generator)
            guard let fast = AuditEvent.read(Data(bytes)) else { continue }
            read += 1
            #expect(fast == full(Data(bytes)), "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(read > 0)
    }

    /// Random damage to a real page: wherever the member-by-member reading still reads one, the full
    /// reading agrees.
    @Test func agreesWithTheFullReadingOnDamagedPages() {
        var generator = SystemRandomNumberGenerator()
        let seed = [UInt8](WireCodec.json(TypedReply(result: JSONValueDecodableTests.page)))
        let alphabet = Array(#"{}[]:," \0123456789.-eEabcdefnlrstu_\"#.utf8) + [0x7F, 0xC3, 0xA9, 0x00, 0x0A]
        var read = 0
        for _ in 0..<4_000 {
            let bytes = randomlyDamaged(seed, alphabet: alphabet, using: &generator)
            let body = Data(bytes)
            guard let fast = fastReading(body) else { continue }
            read += 1
            #expect(fast == fullReading(body), "\(String(decoding: bytes, as: UTF8.self))")
        }
        // Some damage leaves a valid page (a digit or a letter changed): the fast reading read some.
        #expect(read > 0)
    }
}
