package import CapsuleDomain
package import Foundation

/// `journal.replay` result: the publisher's current incarnation, its last sequence number, and up to
/// one page of events after the asked position. When the asked incarnation is not the current one,
/// `events` starts at seq 1 of the current incarnation.
package struct JournalPage: Codable, Sendable, Hashable {
    package var incarnation: String
    package var lastSeq: UInt64
    package var events: [AuditEvent]
    /// The highest seq of this incarnation the journal has pruned (acknowledged, then deleted); events
    /// up to it can no longer be replayed. Absent when nothing was pruned.
    package var prunedThrough: UInt64?
    package init(incarnation: String, lastSeq: UInt64, events: [AuditEvent], prunedThrough: UInt64? = nil) {
        self.incarnation = incarnation
        self.lastSeq = lastSeq
        self.events = events
        self.prunedThrough = prunedThrough
    }
}

extension JournalPage: JSONValueDecodable {
    /// The page from a parsed reply, as `init(from:)` reads it (the audit writer's replay path).
    package init(fields json: some JSONFields) throws {
        guard case .array(let events)? = json.member("events") else {
            throw JSONFieldError("events", expected: "an array")
        }
        self.init(
            incarnation: try json.string("incarnation"),
            lastSeq: try json.unsigned("lastSeq"),
            events: try events.map { try AuditEvent(jsonValue: $0) },
            prunedThrough: json.member("prunedThrough") == nil ? nil : try json.unsigned("prunedThrough")
        )
    }
}

extension JournalPage: ShapeReadable {
    /// The page straight from a reader, as ``init(fields:)`` reads it, for the members
    /// `incarnation`, `lastSeq`, `events` and `prunedThrough`, each at most once; throws on anything
    /// else, which the full reading then judges.
    package init(reading reader: inout JSONParser.Reader) throws {
        var incarnation: String?
        var lastSeq: UInt64?
        var events: [AuditEvent]?
        var prunedThrough: UInt64?
        var sawPruned = false
        try reader.object { name, reader in
            switch name {
            case "incarnation" where incarnation == nil: incarnation = try reader.string()
            case "lastSeq" where lastSeq == nil: lastSeq = try reader.unsigned()
            case "events" where events == nil:
                var read: [AuditEvent] = []
                try reader.array { reader in read.append(try AuditEvent(reading: &reader)) }
                events = read
            case "prunedThrough" where !sawPruned:
                sawPruned = true
                prunedThrough = try reader.null() ? nil : try reader.unsigned()
            default: throw ShapeReadingDeclined()
            }
        }
        guard let incarnation, let lastSeq, let events else { throw ShapeReadingDeclined() }
        self.init(incarnation: incarnation, lastSeq: lastSeq, events: events, prunedThrough: prunedThrough)
    }
}

/// A live event on the bus is read member by member (``read(_:)``), as a journal page's events
/// are, and through ``JSONParser`` (``WireMessage/decode(_:)``) when that declines.
extension AuditEvent: JSONValueDecodable {
    /// The event straight from a message body in the shape publishers write
    /// (``init(reading:)``); nil for anything else, which the caller then reads in full.
    package static func read(_ body: Data) -> AuditEvent? {
        JSONParser.Reader.read(body) { reader in try AuditEvent(reading: &reader) }
    }
}
