import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

private func data(_ text: String) -> Data { Data(text.utf8) }

private let validHeader = #"{"v":1,"type":"heartbeat","id":"m-1","sender":"agt_1","ts":1700000000000,"seq":3}"#
private let validBody =
    #"{"agentId":"agt_1","agentCode":"edge-1","manifestDigest":"d","intervalSeconds":30,"services":[],"droppedStale":0}"#

/// Decodes and returns the error code, or nil when the frames decoded.
private func code(_ frames: [Data], hasTopic: Bool) -> WireError.Code? {
    do {
        _ = try WireCodec.decode(frames, hasTopic: hasTopic)
        return nil
    } catch {
        return error.code
    }
}

struct FrameCase: Sendable, CustomTestStringConvertible {
    var name: String
    var frames: [Data]
    var hasTopic: Bool
    var code: WireError.Code

    var testDescription: String { name }
}

/// A small deterministic generator (64-bit LCG, Knuth's MMIX constants) so the garbage is the same on every run.
struct LCG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

struct WireCodecErrorTests {
    static let knownCodes: Set<WireError.Code> = [
        .truncated, .oversized, .malformedHeader, .unsupportedVersion, .unknownType, .malformedBody, .topicMismatch,
    ]

    static let cases: [FrameCase] = [
        // Frame counts.
        .init(name: "no frames", frames: [], hasTopic: false, code: .truncated),
        .init(name: "no frames with topic", frames: [], hasTopic: true, code: .truncated),
        .init(name: "header only", frames: [data(validHeader)], hasTopic: false, code: .truncated),
        .init(
            name: "topic stream missing the body",
            frames: [data("hb.agt_1"), data(validHeader)],
            hasTopic: true,
            code: .truncated
        ),
        .init(
            name: "extra frame",
            frames: [data(validHeader), data(validBody), data("{}")],
            hasTopic: false,
            code: .malformedHeader
        ),
        .init(
            name: "extra frame on topic stream",
            frames: [data("hb.agt_1"), data(validHeader), data(validBody), Data()],
            hasTopic: true,
            code: .malformedHeader
        ),
        // Garbled headers.
        .init(name: "empty header", frames: [Data(), data(validBody)], hasTopic: false, code: .malformedHeader),
        .init(
            name: "non-JSON header",
            frames: [data("hello, world"), data(validBody)],
            hasTopic: false,
            code: .malformedHeader
        ),
        .init(
            name: "binary header",
            frames: [Data([0xff, 0x00, 0x13, 0x37, 0xc3]), data(validBody)],
            hasTopic: false,
            code: .malformedHeader
        ),
        .init(
            name: "truncated JSON header",
            frames: [data(String(validHeader.dropLast(5))), data(validBody)],
            hasTopic: false,
            code: .malformedHeader
        ),
        .init(
            name: "header is an array",
            frames: [data("[1, \"heartbeat\"]"), data(validBody)],
            hasTopic: false,
            code: .malformedHeader
        ),
        .init(
            name: "header is an empty object",
            frames: [data("{}"), data(validBody)],
            hasTopic: false,
            code: .malformedHeader
        ),
        .init(
            name: "version as a string",
            frames: [
                data(#"{"v":"1","type":"heartbeat","id":"a","sender":"b","ts":1,"seq":0}"#),
                data(validBody),
            ],
            hasTopic: false,
            code: .malformedHeader
        ),
        .init(
            name: "missing id",
            frames: [data(#"{"v":1,"type":"heartbeat","sender":"b","ts":1,"seq":0}"#), data(validBody)],
            hasTopic: false,
            code: .malformedHeader
        ),
        .init(
            name: "negative seq",
            frames: [data(#"{"v":1,"type":"heartbeat","id":"a","sender":"b","ts":1,"seq":-1}"#), data(validBody)],
            hasTopic: false,
            code: .malformedHeader
        ),
        // Version and type.
        .init(
            name: "version 2",
            frames: [data(#"{"v":2,"type":"heartbeat","id":"a","sender":"b","ts":1,"seq":0}"#), data(validBody)],
            hasTopic: false,
            code: .unsupportedVersion
        ),
        .init(
            name: "version 0, otherwise incomplete",
            frames: [data(#"{"v":0,"type":"nope"}"#), data(validBody)],
            hasTopic: false,
            code: .unsupportedVersion
        ),
        .init(
            name: "unknown type",
            frames: [data(#"{"v":1,"type":"heartbeats","id":"a","sender":"b","ts":1,"seq":0}"#), data(validBody)],
            hasTopic: false,
            code: .unknownType
        ),
        .init(
            name: "unknown type, case differs",
            frames: [data(#"{"v":1,"type":"Heartbeat"}"#), data(validBody)],
            hasTopic: false,
            code: .unknownType
        ),
        // Sizes.
        .init(
            name: "oversized header",
            frames: [Data(repeating: 0x20, count: WireCodec.maxHeaderBytes + 1), data(validBody)],
            hasTopic: false,
            code: .oversized
        ),
        .init(
            name: "oversized body",
            frames: [data(validHeader), Data(repeating: 0x20, count: WireCodec.maxBodyBytes + 1)],
            hasTopic: false,
            code: .oversized
        ),
        .init(
            name: "oversized body beats a garbled header",
            frames: [data("garbage"), Data(count: WireCodec.maxBodyBytes + 1)],
            hasTopic: false,
            code: .oversized
        ),
        .init(
            name: "oversized topic",
            frames: [
                Data(repeating: 0x61, count: WireCodec.maxTopicBytes + 1), data(validHeader),
                data(validBody),
            ],
            hasTopic: true,
            code: .oversized
        ),
        .init(
            name: "non-UTF-8 topic",
            frames: [Data([0x68, 0x62, 0x2e, 0xff, 0xfe]), data(validHeader), data(validBody)],
            hasTopic: true,
            code: .malformedHeader
        ),
    ]

    @Test(arguments: cases)
    func rejects(_ row: FrameCase) throws {
        let error = try #require(throws: WireError.self) { try WireCodec.decode(row.frames, hasTopic: row.hasTopic) }
        #expect(error.code == row.code)
        #expect(!error.detail.isEmpty)
        #expect(error.description.hasPrefix(row.code.rawValue + ": "))
    }

    @Test func unknownTypeDetailIsBounded() throws {
        let huge = String(repeating: "x", count: 1_000)
        let error = try #require(throws: WireError.self) {
            try WireCodec.decode([data(#"{"v":1,"type":"\#(huge)"}"#), data("{}")], hasTopic: false)
        }
        #expect(error.code == .unknownType)
        #expect(error.detail.count < 100, "the echoed type is truncated: \(error.detail.count) characters")
    }

    @Test func sizesExactlyAtTheLimitsAreAccepted() throws {
        let padded = validHeader + String(repeating: " ", count: WireCodec.maxHeaderBytes - validHeader.utf8.count)
        #expect(padded.utf8.count == WireCodec.maxHeaderBytes)
        let topic = String(repeating: "t", count: WireCodec.maxTopicBytes)
        let body = Data(repeating: 0x20, count: WireCodec.maxBodyBytes)
        let message = try WireCodec.decode([data(topic), data(padded), body], hasTopic: true)
        #expect(message.topic == topic)
        #expect(message.header.type == .heartbeat)
        #expect(message.header.seq == 3)
        #expect(message.body.count == WireCodec.maxBodyBytes)
    }

    @Test func decodesHandWrittenFrames() throws {
        let message = try WireCodec.decode([data(validHeader), data(validBody)], hasTopic: false)
        #expect(message.topic == nil)
        #expect(message.header == Header(type: .heartbeat, id: "m-1", sender: "agt_1", ts: 1_700_000_000_000, seq: 3))
        let heartbeat = try message.decode(Heartbeat.self)
        #expect(heartbeat.agentCode == "edge-1")
        #expect(heartbeat.services.isEmpty)
    }

    struct BodyCase: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var detail: String
        var testDescription: String { name }
    }

    static let badBodies: [BodyCase] = [
        .init(
            name: "another type's body",
            body: #"{"publisher":"broker","lastSeq":1}"#,
            detail: "heartbeat body: missing field $.agentId"
        ),
        .init(name: "not JSON", body: "heartbeat!", detail: "heartbeat body: not valid JSON"),
        .init(name: "empty", body: "", detail: "heartbeat body: not valid JSON"),
        .init(
            name: "wrong field type",
            body: validBody.replacingOccurrences(of: #""intervalSeconds":30"#, with: #""intervalSeconds":"30""#),
            detail: "heartbeat body: wrong type at $.intervalSeconds"
        ),
        .init(
            name: "null field",
            body: validBody.replacingOccurrences(of: #""agentCode":"edge-1""#, with: #""agentCode":null"#),
            detail: "heartbeat body: wrong type at $.agentCode"
        ),
        .init(name: "array body", body: "[]", detail: "heartbeat body: wrong type at $"),
        .init(
            name: "bad nested health",
            body: validBody.replacingOccurrences(
                of: #""services":[]"#,
                with: #""services":[{"code":"a","health":{"status":"FINE"},"sampledAt":1}]"#
            ),
            detail: "heartbeat body: invalid value at $.services[0].health.status"
        ),
    ]

    @Test(arguments: badBodies)
    func bodyThatDoesNotMatchTheType(_ row: BodyCase) throws {
        let message = try WireCodec.decode([data(validHeader), data(row.body)], hasTopic: false)
        let error = try #require(throws: WireError.self) { try message.decode(Heartbeat.self) }
        #expect(error.code == .malformedBody)
        #expect(error.detail == row.detail)
    }

    @Test func beaconBodyDecodedAsHeartbeatIsMalformed() throws {
        let frames = WireCodec.encode(
            topic: "beacon.broker",
            header: Header(type: .heartbeat, id: "1", sender: "agt_1", ts: 0),
            body: Beacon(publisher: "broker", lastSeq: 9)
        )
        let message = try WireCodec.decode(frames, hasTopic: true)
        #expect(throws: WireError(.malformedBody, "heartbeat body: missing field $.agentId")) {
            try message.decode(Heartbeat.self)
        }
        #expect(try message.decode(Beacon.self) == Beacon(publisher: "broker", lastSeq: 9))
    }

    /// 2,000 frame sets of seeded garbage: decoding must throw a known WireError every time, never crash.
    @Test func randomGarbageAlwaysThrows() {
        var random = LCG(state: 0x5EED_CAFE_F00D_D00D)
        let jsonish = Array(#"{}[]":,0123456789 vtypeidsenderseqheartbeat-.truefalsenull\"#.utf8)
        var seenCodes: Set<WireError.Code> = []
        for iteration in 0..<2_000 {
            let hasTopic = random.next() & 1 == 1
            let frameCount = random.next(below: 5)
            let biased = iteration % 3 == 0
            var frames: [Data] = []
            for _ in 0..<frameCount {
                let length = random.next(below: 64)
                var bytes = [UInt8](repeating: 0, count: length)
                for index in bytes.indices {
                    bytes[index] =
                        biased ? jsonish[random.next(below: jsonish.count)] : UInt8(truncatingIfNeeded: random.next())
                }
                frames.append(Data(bytes))
            }
            do {
                let message = try WireCodec.decode(frames, hasTopic: hasTopic)
                Issue.record("iteration \(iteration) decoded garbage: \(message.header)")
            } catch {
                #expect(Self.knownCodes.contains(error.code), "iteration \(iteration): \(error)")
                seenCodes.insert(error.code)
            }
        }
        // The generator reaches more than one failure path.
        #expect(seenCodes.isSuperset(of: [.truncated, .malformedHeader]))
    }

    /// Valid frames with a few bytes flipped or cut: decoding throws a WireError or yields a sane header.
    @Test func mutatedValidFramesNeverCrash() {
        var random = LCG(state: 42)
        let header = Header(type: .commandResult, id: "id-1", sender: "agt_1", ts: 1_700_000_000_000, seq: 0, corr: "c")
        let original = WireCodec.encode(
            topic: "hb.agt_1",
            header: header,
            body: CommandResult(commandId: "cmd_1", success: true, data: .object(["k": .number(1)]))
        )
        var failures = 0
        for _ in 0..<2_000 {
            var frames = original
            let target = random.next(below: frames.count)
            var bytes = [UInt8](frames[target])
            if random.next() & 3 == 0 {
                bytes = Array(bytes.prefix(random.next(below: bytes.count + 1)))
            } else {
                for _ in 0..<(1 + random.next(below: 3)) where !bytes.isEmpty {
                    bytes[random.next(below: bytes.count)] = UInt8(truncatingIfNeeded: random.next())
                }
            }
            frames[target] = Data(bytes)
            do {
                let message = try WireCodec.decode(frames, hasTopic: true)
                #expect(message.header.v == WireCodec.version)
                do {
                    _ = try message.decode(CommandResult.self)
                } catch {
                    #expect(error.code == .malformedBody)
                }
            } catch {
                failures += 1
                #expect(Self.knownCodes.contains(error.code))
            }
        }
        #expect(failures > 0, "some mutations must break the header")
    }

    @Test func decodeErrorCodeHelperSeesSuccess() {
        #expect(code([data(validHeader), data(validBody)], hasTopic: false) == nil)
        #expect(code([data(validHeader)], hasTopic: false) == .truncated)
    }
}

struct TopicTests {
    static func expected(_ type: MessageType) -> String? {
        switch type {
        case .heartbeat: "hb.agt_1"
        case .health: "health.agt_1"
        case .serviceReport: "report.agt_1"
        case .beacon: "beacon.agt_1"
        case .event: "evt.command.created"
        case .agentHello, .agentWelcome, .commandDispatch, .commandAck, .commandResult, .commandCancel, .reportRequest,
            .workerReady, .request, .reply, .error:
            nil
        }
    }

    @Test(arguments: MessageType.allCases)
    func expectedTopic(_ type: MessageType) {
        #expect(Topic.expected(for: type, sender: "agt_1", action: "command.created") == Self.expected(type))
    }

    @Test func eventWithoutActionHasNoExpectedTopic() {
        #expect(Topic.expected(for: .event, sender: "broker") == nil)
    }

    @Test func expectedTopicsStartWithTheirPrefixes() {
        #expect(Topic.expected(for: .heartbeat, sender: "x")?.hasPrefix(Topic.heartbeatPrefix) == true)
        #expect(Topic.expected(for: .health, sender: "x")?.hasPrefix(Topic.healthPrefix) == true)
        #expect(Topic.expected(for: .serviceReport, sender: "x")?.hasPrefix(Topic.reportPrefix) == true)
        #expect(Topic.expected(for: .beacon, sender: "x")?.hasPrefix(Topic.beaconPrefix) == true)
        #expect(Topic.expected(for: .event, sender: "x", action: "a")?.hasPrefix(Topic.eventPrefix) == true)
        // The health prefix must not also match heartbeats (and vice versa) for SUB filtering.
        #expect(!Topic.heartbeat("a").hasPrefix(Topic.healthPrefix))
        #expect(!Topic.health("a").hasPrefix(Topic.heartbeatPrefix))
    }
}
