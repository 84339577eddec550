import CapsuleDaemon
import Foundation
import Logging
import Testing

struct CapsuleLogHandlerTests {
    let date = Date(timeIntervalSince1970: 1_796_159_726.123)

    @Test func jsonLinesParseWithTimestampLevelMessageAndMetadataFields() throws {
        let line = CapsuleLogHandler.line(
            format: .json,
            date: date,
            level: .notice,
            label: "capsule.broker",
            message: "Refused a connection.",
            metadata: [
                "zap.domain": "router", "peer.key": "abc\"def\n", "count": .stringConvertible(3),
                "nested": .dictionary(["list": .array(["a", "b"])]), "msg": "collides",
            ]
        )
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["ts"] as? String == "2026-12-01T21:15:26.123Z")
        #expect(object["level"] as? String == "notice")
        #expect(object["logger"] as? String == "capsule.broker")
        #expect(object["msg"] as? String == "Refused a connection.")
        #expect(object["zap.domain"] as? String == "router")
        #expect(object["peer.key"] as? String == "abc\"def\n")
        #expect(object["count"] as? String == "3")
        #expect((object["nested"] as? [String: Any])?["list"] as? [String] == ["a", "b"])
        #expect(object["meta.msg"] as? String == "collides")
    }

    @Test(arguments: [
        "two\nlines", "cr\rreturn", "fake\nts=2026-01-01T00:00:00.000Z level=error msg=\"forged\"", "nul\u{0}byte",
        "esc\u{1b}[31mred", "sep\u{2028}line", "back\\slash\"quote", "key=value spaces", "",
    ])
    func hostileMetadataCannotSplitOrForgeALogfmtLine(_ hostile: String) throws {
        let line = CapsuleLogHandler.line(
            format: .logfmt,
            date: date,
            level: .info,
            label: "capsule.broker",
            message: hostile,
            metadata: ["peer": .string(hostile), "bad key=\n": .string(hostile)]
        )
        // One line, ending in the one newline.
        #expect(line.filter { $0 == "\n" }.count == 1)
        #expect(line.hasSuffix("\n"))
        #expect(
            !line.unicodeScalars.dropLast().contains { $0.properties.generalCategory == .control || $0 == "\u{2028}" }
        )
        // And it reads back as exactly the fields written, the hostile value intact.
        let fields = try LogfmtReader.parse(String(line.dropLast()))
        #expect(fields.map(\.key) == ["ts", "level", "logger", "msg", "bad_key__", "peer"])
        #expect(fields.first { $0.key == "peer" }?.value == hostile)
        #expect(fields.first { $0.key == "msg" }?.value == hostile)
        #expect(fields.first { $0.key == "level" }?.value == "info")
    }

    @Test func plainValuesStayUnquotedAndTheMessageIsQuoted() {
        let line = CapsuleLogHandler.line(
            format: .logfmt,
            date: date,
            level: .warning,
            label: "capsule.aggregator",
            message: "Dropped a message.",
            metadata: ["drop.reason": "oversized", "zmq.endpoint": "tcp://127.0.0.1:7401"]
        )
        #expect(
            line
                == "ts=2026-12-01T21:15:26.123Z level=warning logger=capsule.aggregator msg=\"Dropped a message.\" drop.reason=oversized zmq.endpoint=tcp://127.0.0.1:7401\n"
        )
    }

    @Test func theHandlerMergesMetadataAndHonoursItsLevel() throws {
        let sink = LogSink.capturing()
        var logger = Logger(label: "capsule.test") { label in
            CapsuleLogHandler(label: label, format: .json, level: .info, sink: sink)
        }
        logger[metadataKey: "component"] = "broker"
        logger.debug("Not shown.")
        logger.info("Shown.", metadata: ["agent.id": "agt_1"])
        #expect(sink.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(sink.lines[0].utf8)) as? [String: String])
        #expect(object["component"] == "broker")
        #expect(object["agent.id"] == "agt_1")
        #expect(object["msg"] == "Shown.")
    }
}

/// A strict logfmt reader for the tests: `key=value` or `key="quoted"` pairs separated by one space,
/// with the handler's escapes. Throws on anything else.
enum LogfmtReader {
    struct Malformed: Error {}

    static func parse(_ line: String) throws -> [(key: String, value: String)] {
        var fields: [(key: String, value: String)] = []
        var scalars = Array(line.unicodeScalars)[...]
        while !scalars.isEmpty {
            guard let equals = scalars.firstIndex(of: "=") else { throw Malformed() }
            let key = String(String.UnicodeScalarView(scalars[scalars.startIndex..<equals]))
            guard !key.isEmpty, !key.contains(" ") else { throw Malformed() }
            scalars = scalars[(equals + 1)...]
            var value = ""
            if scalars.first == "\"" {
                scalars = scalars.dropFirst()
                var closed = false
                while let scalar = scalars.first {
                    scalars = scalars.dropFirst()
                    if scalar == "\"" {
                        closed = true
                        break
                    }
                    guard scalar == "\\" else {
                        value.unicodeScalars.append(scalar)
                        continue
                    }
                    guard let escaped = scalars.first else { throw Malformed() }
                    scalars = scalars.dropFirst()
                    switch escaped {
                    case "n": value += "\n"
                    case "r": value += "\r"
                    case "t": value += "\t"
                    case "\"": value += "\""
                    case "\\": value += "\\"
                    case "u":
                        guard scalars.first == "{", let close = scalars.firstIndex(of: "}"),
                            let code = UInt32(
                                String(String.UnicodeScalarView(scalars[(scalars.startIndex + 1)..<close])),
                                radix: 16
                            ),
                            let decoded = Unicode.Scalar(code)
                        else { throw Malformed() }
                        value.unicodeScalars.append(decoded)
                        scalars = scalars[(close + 1)...]
                    default: throw Malformed()
                    }
                }
                guard closed else { throw Malformed() }
            } else {
                while let scalar = scalars.first, scalar != " " {
                    guard scalar != "\"", scalar != "=" else { throw Malformed() }
                    value.unicodeScalars.append(scalar)
                    scalars = scalars.dropFirst()
                }
            }
            fields.append((key, value))
            if scalars.first == " " { scalars = scalars.dropFirst() } else if !scalars.isEmpty { throw Malformed() }
        }
        return fields
    }
}
