package import Foundation

/// One event for the audit trail. `(publisher, incarnation, seq)` identifies it exactly once (design §6).
///
/// Every event is bounded when it is created (design §5): text fields have control characters
/// escaped and long values cut with a visible marker, and `details` is redacted and capped, so any
/// journalled event can always be delivered and replayed.
package struct AuditEvent: Codable, Sendable, Hashable {
    /// Who published it: `broker` or `aggregator`.
    package var publisher: String
    /// The publisher's journal incarnation: a new one starts when its store is reset or restored.
    package var incarnation: String
    /// Per-publisher, per-incarnation sequence number, starting at 1, without gaps.
    package var seq: UInt64
    package var at: Date
    /// What happened, such as `service.transition`, `agent.registered`, `command.created`.
    package var action: String
    /// What it happened to: `service:CODE`, `agent:ID`, `command:ID`, `token:ID`, `operator:NAME`.
    package var subject: String
    /// Who caused it: `operator:NAME`, `agent:ID`, `internal:NAME`, `key:Z85`, `system`.
    package var actor: String
    package var result: AuditResult
    package var from: String?
    package var to: String?
    package var reason: String?
    /// Extra context, redacted and bounded.
    package var details: JSONValue?

    /// Caps applied at creation.
    package static let maxNameBytes = 256
    package static let maxDetailsBytes = 16 * 1024

    package init(
        publisher: String,
        incarnation: String = "",
        seq: UInt64,
        at: Date,
        action: String,
        subject: String,
        actor: String,
        result: AuditResult = .success,
        from: String? = nil,
        to: String? = nil,
        reason: String? = nil,
        details: JSONValue? = nil
    ) {
        self.publisher = publisher
        self.incarnation = incarnation
        self.seq = seq
        self.at = at
        self.action = action
        self.subject = subject
        self.actor = actor
        self.result = result
        self.from = from
        self.to = to
        self.reason = reason
        self.details = details
        bound()
    }

    /// Applies the caps: escapes and cuts text, redacts details and replaces details that are still
    /// too large with a summary. Idempotent; also applied to journal entries written before the caps.
    package mutating func bound() {
        action = SafeText.clean(action, limit: 128)
        subject = SafeText.clean(subject, limit: Self.maxNameBytes)
        actor = SafeText.clean(actor, limit: Self.maxNameBytes)
        from = from.map { SafeText.clean($0, limit: 64) }
        to = to.map { SafeText.clean($0, limit: 64) }
        reason = reason.map { SafeText.clean($0, limit: SafeText.reasonLimit) }
        if let details {
            let cleaned = SafeText.clean(Redactor.redact(details))
            let size = cleaned.estimatedSize
            if size > Self.maxDetailsBytes {
                var summary: [String: JSONValue] = ["truncated": .bool(true), "bytes": .number(Double(size))]
                if case .object(let object) = cleaned {
                    summary["keys"] = .array(object.keys.sorted().prefix(32).map(JSONValue.string))
                }
                self.details = .object(summary)
            } else {
                self.details = cleaned
            }
        }
    }

    package var bounded: AuditEvent {
        var copy = self
        copy.bound()
        return copy
    }

    private enum CodingKeys: String, CodingKey {
        case publisher, incarnation, seq, at, action, subject, actor, result, from, to, reason, details
    }

    /// The event from a parsed JSON value, read as `init(from:)` reads it: no caps applied (a journal
    /// page takes this path, through ``JSONParser``, instead of `JSONDecoder`).
    package init(jsonValue json: JSONValue) throws(JSONFieldError) { try self.init(fields: json) }

    /// The event from parsed JSON fields (an object, or a message body's top-level members): the
    /// audit writer reads every live event this way, and `JSONDecoder` was 60 % of its loop thread.
    package init(fields json: some JSONFields) throws(JSONFieldError) {
        publisher = try json.string("publisher")
        incarnation = try json.optionalString("incarnation") ?? ""
        seq = try json.unsigned("seq")
        at = Date(timeIntervalSince1970: try json.number("at") / 1_000)
        action = try json.string("action")
        subject = try json.string("subject")
        actor = try json.string("actor")
        result = try json.oneOf("result", AuditResult.self)
        from = try json.optionalString("from")
        to = try json.optionalString("to")
        reason = try json.optionalString("reason")
        details = json.member("details")
    }

    /// The event straight from a reader, as ``init(fields:)`` reads it, for its twelve members, each
    /// at most once, in any order: the audit writer reads every replayed event, and building a
    /// dictionary per event was most of its replay decoding (Benchmarks/README.md). Throws on
    /// anything else (another member, a repeated one, a value of another type, `null` where a value
    /// is required), which the full reading then judges.
    package init(reading reader: inout JSONParser.Reader) throws {
        var publisher: String?
        var incarnation: String??
        var seq: UInt64?
        var at: Double?
        var action: String?
        var subject: String?
        var actor: String?
        var result: AuditResult?
        var from: String??
        var to: String??
        var reason: String??
        var details: JSONValue??
        try reader.object { name, reader in
            switch name {
            case "publisher" where publisher == nil: publisher = try reader.string()
            case "incarnation" where incarnation == nil: incarnation = .some(try reader.optionalString())
            case "seq" where seq == nil: seq = try reader.unsigned()
            case "at" where at == nil: at = try reader.number()
            case "action" where action == nil: action = try reader.string()
            case "subject" where subject == nil: subject = try reader.string()
            case "actor" where actor == nil: actor = try reader.string()
            case "result" where result == nil:
                guard let parsed = AuditResult(rawValue: try reader.string()) else { throw ShapeReadingDeclined() }
                result = parsed
            case "from" where from == nil: from = .some(try reader.optionalString())
            case "to" where to == nil: to = .some(try reader.optionalString())
            case "reason" where reason == nil: reason = .some(try reader.optionalString())
            case "details" where details == nil: details = .some(try reader.optionalValue())
            default: throw ShapeReadingDeclined()
            }
        }
        guard let publisher, let seq, let at, let action, let subject, let actor, let result else {
            throw ShapeReadingDeclined()
        }
        // Set member by member, as init(fields:) does: no caps applied here.
        self.publisher = publisher
        self.incarnation = (incarnation ?? nil) ?? ""
        self.seq = seq
        self.at = Date(timeIntervalSince1970: at / 1_000)
        self.action = action
        self.subject = subject
        self.actor = actor
        self.result = result
        self.from = from ?? nil
        self.to = to ?? nil
        self.reason = reason ?? nil
        self.details = details ?? nil
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        publisher = try container.decode(String.self, forKey: .publisher)
        incarnation = try container.decodeIfPresent(String.self, forKey: .incarnation) ?? ""
        seq = try container.decode(UInt64.self, forKey: .seq)
        at = try container.decode(Date.self, forKey: .at)
        action = try container.decode(String.self, forKey: .action)
        subject = try container.decode(String.self, forKey: .subject)
        actor = try container.decode(String.self, forKey: .actor)
        result = try container.decode(AuditResult.self, forKey: .result)
        from = try container.decodeIfPresent(String.self, forKey: .from)
        to = try container.decodeIfPresent(String.self, forKey: .to)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        details = try container.decodeIfPresent(JSONValue.self, forKey: .details)
    }
}

extension AuditEvent: JSONWritable {
    /// The members `encode(to:)` writes, in its order; absent optionals are left out, as there.
    package func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("publisher", publisher, first: true)
        writer.field("incarnation", incarnation)
        writer.field("seq", seq)
        writer.field("at", at)
        writer.field("action", action)
        writer.field("subject", subject)
        writer.field("actor", actor)
        writer.field("result", result.rawValue)
        writer.field("from", from)
        writer.field("to", to)
        writer.field("reason", reason)
        writer.field("details", details)
        writer.endObject()
    }
}
