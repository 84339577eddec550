import CapsuleDomain
import Foundation

/// Aggregates refusals so no flood becomes one audit row per hostile message (design §5).
///
/// The first refusal of a kind for a key in a window is audited at once; the rest of that window
/// are counted and reported in one more event when the window ends ("repeated N times"). At most
/// ``maxKeys`` keys are tracked per window; refusals of further keys are summed into one event. So a
/// window costs at most `2 × maxKeys + 1` events, whatever the flood.
struct RefusalLedger {
    struct Refusal: Sendable {
        var action: String
        var subject: String
        var actor: String
        var reason: String
        var details: [String: JSONValue] = [:]
        /// The refused subject's status, when it has one (a command's).
        var from: String? = nil
    }

    private struct Entry {
        var refusal: Refusal
        var repeats: Int
    }

    let window: TimeInterval
    let maxKeys: Int
    private var windowStart: Date?
    private var entries: [String: Entry] = [:]
    private var overflow = 0
    private var overflowKeys = 0

    init(window: TimeInterval = 60, maxKeys: Int = 200) {
        self.window = window
        self.maxKeys = maxKeys
    }

    /// Records a refusal; returns the event to journal now, if any.
    mutating func refuse(_ refusal: Refusal, key: String, now: Date) -> AuditEvent? {
        let slot = "\(refusal.action)|\(key)"
        if windowStart == nil { windowStart = now }
        if entries[slot] != nil {
            entries[slot]!.repeats += 1
            return nil
        }
        guard entries.count < maxKeys else {
            overflow += 1
            overflowKeys += 1
            return nil
        }
        entries[slot] = Entry(refusal: refusal, repeats: 0)
        return event(refusal, count: 1, now: now, summary: false)
    }

    /// At the end of a window: one event per key that was refused again, and one for the overflow.
    mutating func flush(now: Date) -> [AuditEvent] {
        guard let start = windowStart, now.timeIntervalSince(start) >= window else { return [] }
        var events: [AuditEvent] = []
        for entry in entries.values.sorted(by: { $0.refusal.subject < $1.refusal.subject }) where entry.repeats > 0 {
            events.append(event(entry.refusal, count: entry.repeats, now: now, summary: true))
        }
        if overflow > 0 {
            events.append(
                AuditEvent(
                    publisher: "broker",
                    seq: 0,
                    at: now,
                    action: "peer.refused",
                    subject: "broker",
                    actor: "system",
                    result: .failure,
                    reason: "\(overflow) more refusals from keys beyond the first \(maxKeys) in \(Int(window)) s",
                    details: .object(["count": .number(Double(overflow))])
                )
            )
        }
        entries.removeAll(keepingCapacity: true)
        overflow = 0
        overflowKeys = 0
        windowStart = nil
        return events
    }

    private func event(_ refusal: Refusal, count: Int, now: Date, summary: Bool) -> AuditEvent {
        var details = refusal.details
        details["count"] = .number(Double(count))
        details["windowSeconds"] = .number(window)
        let reason = summary ? "\(refusal.reason) (repeated \(count) more times in \(Int(window)) s)" : refusal.reason
        return AuditEvent(
            publisher: "broker",
            seq: 0,
            at: now,
            action: refusal.action,
            subject: refusal.subject,
            actor: refusal.actor,
            result: .failure,
            from: refusal.from,
            reason: reason,
            details: .object(details)
        )
    }
}
