import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

/// `Heartbeat.read` is a fast path only: where it reads a heartbeat, the full reading
/// (`JSONParser.members`, then `Heartbeat(fields:)`) must read the same one; where it declines,
/// `WireMessage.heartbeat()` falls back to the full reading.
struct HeartbeatReadingTests {
    private func fullReading(_ data: Data) -> Heartbeat? {
        guard let members = try? JSONParser.members(data) else { return nil }
        return try? Heartbeat(fields: members)
    }

    @Test func readsWhatAgentsWriteAsTheFullReadingDoes() throws {
        let data = WireCodec.json(ParsedHeartbeatTests.heartbeat)
        let fast = try #require(Heartbeat.read(data))
        #expect(fast == ParsedHeartbeatTests.heartbeat)
        #expect(fast == fullReading(data))
        let frames = WireCodec.encode(
            topic: "hb.agt_5d1c9e07a2b4",
            header: ParsedHeartbeatTests.header,
            body: ParsedHeartbeatTests.heartbeat
        )
        #expect(try WireCodec.decode(frames, hasTopic: true).heartbeat() == ParsedHeartbeatTests.heartbeat)
    }

    @Test func readsNullOptionalsAndAnyOrder() throws {
        let text = #"""
            { "droppedStale": 0, "services": [ { "sampledAt": 12.5, "health": { "details": null, "message": null,
              "status": "DOWN" }, "code": "w\u00e9" } ], "intervalSeconds": 2.5, "manifestDigest": "d",
              "agentCode": "c", "agentId": "agt_1" }
            """#
        let data = Data(text.utf8)
        let fast = try #require(Heartbeat.read(data))
        #expect(fast == fullReading(data))
        #expect(fast.services.first?.code == "wé")
        #expect(fast.services.first?.health.message == nil)
    }

    /// Each of these the fast reading leaves to the full one (which accepts some, refuses others).
    @Test(arguments: [
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[],"droppedStale":0,"x":1}"#,
        #"{"agentId":"a","agentId":"b","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[],"droppedStale":0}"#,
        #"{"agentId":null,"agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[],"droppedStale":0}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[]}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[],"droppedStale":0.5}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":"5","services":[],"droppedStale":0}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[{"code":"s","health":{"status":"UP"},"sampledAt":1,"extra":true}],"droppedStale":0}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[{"code":"s","health":{"status":"FINE"},"sampledAt":1}],"droppedStale":0}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[{"code":"s","health":{"message":"m"},"sampledAt":1}],"droppedStale":0}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[],"droppedStale":0} x"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":[],"droppedStale":0,}"#,
        #"{"agentId":"a","agentCode":"c","manifestDigest":"d","intervalSeconds":5,"services":{},"droppedStale":0}"#,
        #"[]"#, #""#, #"{"#,
    ])
    func declinesEverythingElse(text: String) {
        #expect(Heartbeat.read(Data(text.utf8)) == nil, "\(text)")
    }

    /// Random damage to a real heartbeat: wherever the fast reading still reads one, the full reading agrees.
    @Test func agreesWithTheFullReadingOnDamagedHeartbeats() {
        var generator = SystemRandomNumberGenerator()
        let seed = [UInt8](WireCodec.json(ParsedHeartbeatTests.heartbeat))
        let alphabet = Array(#"{}[]:," \0123456789.-eEabcdefnlrstu_\"#.utf8) + [0x7F, 0xC3, 0xA9, 0x00, 0x0A]
        var read = 0
        for _ in 0..<4_000 {
            let bytes = randomlyDamaged(seed, alphabet: alphabet, using: &generator)
            let data = Data(bytes)
            guard let fast = Heartbeat.read(data) else { continue }
            read += 1
            #expect(fast == fullReading(data), "\(String(decoding: bytes, as: UTF8.self))")
        }
        // Some damage leaves a valid heartbeat (a digit or a letter changed): the fast reading read some.
        #expect(read > 0)
    }
}
