import CapsuleDomain
import Foundation
import Testing

struct AuditEventTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    static func event(
        action: String = "command.created",
        subject: String = "command:cmd_1",
        actor: String = "operator:alice",
        from: String? = nil,
        to: String? = nil,
        reason: String? = nil,
        details: JSONValue? = nil
    ) -> AuditEvent {
        AuditEvent(
            publisher: "broker",
            seq: 1,
            at: t0,
            action: action,
            subject: subject,
            actor: actor,
            from: from,
            to: to,
            reason: reason,
            details: details
        )
    }

    @Test func everyTextFieldIsEscapedAndCapped() {
        let huge = String(repeating: "x", count: 5_000)
        let event = Self.event(
            action: "a\n" + huge,
            subject: "s\r" + huge,
            actor: "act\u{1b}" + huge,
            from: "f\n" + huge,
            to: "t" + huge,
            reason: "r\n" + huge
        )
        #expect(!event.action.contains("\n") && event.action.utf8.count < 128 + 32)
        #expect(!event.subject.contains("\r") && event.subject.utf8.count < AuditEvent.maxNameBytes + 32)
        #expect(!event.actor.contains("\u{1b}") && event.actor.utf8.count < AuditEvent.maxNameBytes + 32)
        #expect(event.from!.utf8.count < 64 + 32 && event.to!.utf8.count < 64 + 32)
        #expect(!event.reason!.contains("\n") && event.reason!.utf8.count < SafeText.reasonLimit + 32)
        for text in [event.action, event.subject, event.actor, event.from!, event.to!, event.reason!] {
            #expect(text.contains("…[cut "), "\(text.prefix(20))")
        }
    }

    @Test func shortCleanFieldsAreKeptAsGiven() {
        let event = Self.event(
            from: "PENDING",
            to: "RUNNING",
            reason: "acknowledged",
            details: .object(["n": .number(1)])
        )
        #expect(event.action == "command.created")
        #expect(event.subject == "command:cmd_1")
        #expect(event.actor == "operator:alice")
        #expect(event.from == "PENDING" && event.to == "RUNNING" && event.reason == "acknowledged")
        #expect(event.details == .object(["n": .number(1)]))
    }

    @Test func detailsAreRedactedAndCleaned() {
        let event = Self.event(
            details: .object([
                "password": .string("hunter2"), "note\n": .string("a\nb"), "nested": .object(["apiKey": .string("k")]),
            ])
        )
        #expect(
            event.details
                == .object([
                    "password": .string("[REDACTED]"), "note\\n": .string("a\\nb"),
                    "nested": .object(["apiKey": .string("[REDACTED]")]),
                ])
        )
    }

    @Test func detailsOverSixteenKiBAreReplacedByASummary() throws {
        var object: [String: JSONValue] = [:]
        for n in 0..<40 { object[String(format: "key%02d", n)] = .string(String(repeating: "v", count: 1_000)) }
        let event = Self.event(details: .object(object))
        let details = try #require(event.details)
        #expect(details["truncated"] == .bool(true))
        let bytes = try #require(details["bytes"]?.intValue)
        #expect(bytes > AuditEvent.maxDetailsBytes)
        guard case .array(let keys)? = details["keys"] else {
            Issue.record("the summary names no keys")
            return
        }
        #expect(keys.count == 32, "at most 32 keys are named")
        #expect(keys.first == .string("key00"))
        #expect(keys.last == .string("key31"))
        #expect(details.estimatedSize < 2_048)
    }

    @Test func detailsJustUnderTheCapAreKept() {
        let details = JSONValue.object(["blob": .string(String(repeating: "v", count: 2_000))])
        #expect(Self.event(details: details).details == details)
    }

    @Test func aNonObjectOverTheCapIsSummarisedWithoutKeys() throws {
        let details = JSONValue.array((0..<20).map { _ in .string(String(repeating: "v", count: 1_000)) })
        let bounded = try #require(Self.event(details: details).details)
        #expect(bounded["truncated"] == .bool(true))
        #expect(bounded["keys"] == nil)
    }

    @Test func boundingIsIdempotent() {
        var object: [String: JSONValue] = [:]
        for n in 0..<40 { object["k\(n)"] = .string(String(repeating: "v", count: 1_000)) }
        let huge = String(repeating: "x\n", count: 3_000)
        let once = Self.event(subject: huge, actor: huge, reason: huge, details: .object(object))
        #expect(once.bounded == once)
        var twice = once
        twice.bound()
        twice.bound()
        #expect(twice == once)
    }

    @Test func decodingAnOldEventDoesNotBoundItButBoundedDoes() throws {
        let json =
            #"{"publisher":"broker","seq":3,"at":0,"action":"x","subject":"line\nbreak","actor":"system","result":"SUCCESS"}"#
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        let old = try decoder.decode(AuditEvent.self, from: Data(json.utf8))
        #expect(old.incarnation == "", "an event from before incarnations belongs to the legacy one")
        #expect(old.subject == "line\nbreak")
        #expect(old.bounded.subject == "line\\nbreak")
    }
}
