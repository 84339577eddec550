import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

/// `HeaderScanner` is a fast path only: where it reads a header, the full reading (JSONParser, then
/// `Header(fields:)`) must read the same one; where it declines, `WireCodec.decodeHeader` falls back.
struct HeaderScannerTests {
    /// The full reading, as `WireCodec.decodeHeader` did it before the scanner.
    private func fullReading(_ text: String) -> Header? {
        guard let members = try? JSONParser.members(Data(text.utf8)) else { return nil }
        return try? Header(fields: members)
    }

    private func agree(_ text: String) {
        let fast = HeaderScanner.scan(Data(text.utf8))
        if let fast { #expect(fast == fullReading(text), "\(text)") }
    }

    @Test func readsWhatEveryPeerWritesAsTheFullReadingDoes() throws {
        let headers = [
            Header(type: .heartbeat, id: "m-1f2e3d-42", sender: "agt_2b908bc8c2fb", ts: 1_764_806_400_123, seq: 7),
            Header(type: .reply, id: "x", sender: "broker", ts: 0, corr: "req-9"),
            Header(
                type: .request,
                id: "9F1C2B6E-0D4A-4C47-8E35-6B0E7F2A1D33",
                sender: "operator:local-owner",
                ts: 1,
                seq: 9_007_199_254_740_991,
                caller: "operator:alice"
            ),
        ]
        for header in headers {
            let data = WireCodec.json(header)
            let fast = try #require(HeaderScanner.scan(data), "\(String(decoding: data, as: UTF8.self))")
            #expect(fast == header)
            #expect(try WireCodec.decodeHeader(data) == header)
        }
    }

    @Test func acceptsAnyOrderAndWhiteSpace() throws {
        let text = #" { "seq" : 3 ,"ts":12,"# + "\t\n" + #""sender":"agt_1","id":"a","type":"heartbeat","v":1 }"#
        let fast = try #require(HeaderScanner.scan(Data(text.utf8)))
        #expect(fast == fullReading(text))
        #expect(fast.seq == 3 && fast.ts == 12 && fast.sender == "agt_1")
    }

    /// Each of these the scanner leaves to the full reading, which accepts some and refuses others.
    @Test(arguments: [
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt\u005f1","ts":1,"seq":0}"#,  // an escape
        #"{"v":1,"type":"heartbeat","id":"é","sender":"agt_1","ts":1,"seq":0}"#,  // not ASCII
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1,"seq":0,"x":2}"#,  // another member
        #"{"v":1,"type":"heartbeat","id":"a","id":"b","sender":"agt_1","ts":1,"seq":0}"#,  // repeated
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1,"seq":0,"corr":null}"#,  // null
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1.0,"seq":0}"#,  // a fraction
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1e3,"seq":0}"#,  // an exponent
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":-5,"seq":0}"#,  // a sign
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":01,"seq":0}"#,  // a leading zero
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1,"seq":9007199254740992}"#,  // 2^53
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1,"seq":12345678901234567}"#,  // 17 digits
        #"{"v":1,"type":"nonsense","id":"a","sender":"agt_1","ts":1,"seq":0}"#,  // unknown type
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1}"#,  // seq missing
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1,"seq":0} x"#,  // text after it
        #"{"v":1,"type":"heartbeat","id":"a","sender":"agt_1","ts":1,"seq":0,}"#,  // trailing comma
        #"{"v":1,"type":"heartbeat","id":"a\u0000","sender":"agt_1","ts":1,"seq":0}"#,
        "{\"v\":1,\"type\":\"heartbeat\",\"id\":\"a\u{7f}\",\"sender\":\"agt_1\",\"ts\":1,\"seq\":0}",  // DEL
        "{\"v\":1,\"type\":\"heartbeat\",\"id\":\"a\tb\",\"sender\":\"agt_1\",\"ts\":1,\"seq\":0}",  // control
        #"{}"#, #"[]"#, #""#, #"{"v":1"#,
    ])
    func declinesEverythingElse(text: String) {
        #expect(HeaderScanner.scan(Data(text.utf8)) == nil, "\(text)")
    }

    /// Random damage to real headers: wherever the scanner still reads one, the full reading agrees.
    @Test func agreesWithTheFullReadingOnDamagedHeaders() {
        var generator = SystemRandomNumberGenerator()
        let seeds = [
            WireCodec.json(Header(type: .heartbeat, id: "m-1f2e3d-42", sender: "agt_2b908bc8c2fb", ts: 17, seq: 7)),
            WireCodec.json(Header(type: .reply, id: "r1", sender: "broker", ts: 5, corr: "q", caller: "audit")),
        ]
        let alphabet = Array(#"{}[]:," \0123456789.-eEabcdefghijklmnopqrstuvwxyz_\u"#.utf8) + [0x7F, 0xC3, 0xA9, 0x00]
        var read = 0
        for round in 0..<4_000 {
            let bytes = randomlyDamaged([UInt8](seeds[round % seeds.count]), alphabet: alphabet, using: &generator)
            let text = String(decoding: bytes, as: UTF8.self)
            guard String(validating: bytes, as: UTF8.self) != nil else {
                // Not UTF-8: the scanner must decline (it reads ASCII only), like the full reading.
                #expect(HeaderScanner.scan(Data(bytes)) == nil)
                continue
            }
            if HeaderScanner.scan(Data(bytes)) != nil { read += 1 }
            agree(text)
        }
        // Some damage leaves a valid header (a digit changed, say): the scanner read some of them.
        #expect(read > 0)
    }
}
