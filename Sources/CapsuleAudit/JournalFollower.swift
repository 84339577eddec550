import CapsuleDomain
import CapsuleProtocol
import Foundation

/// The audit writer's cursor over every publisher's journal, as a value type (design §6, the Clone
/// pattern): events, beacons and replay pages go in, actions come out. No sockets, no store; the
/// caller passes `now` and reports what the store did.
///
/// Per journal incarnation it keeps the highest sequence number up to which nothing is missing. A
/// gap, a beacon ahead of the cursor, or a start asks for a replay; replay pages are pipelined (the
/// next one is asked for as soon as one arrives) and stored in batches; acknowledgements go out
/// about once a second. A beacon behind the cursor means the publisher's store went back in time
/// (restored): the audit writer acknowledges what it has, and the publisher starts a new incarnation.
struct JournalFollower {
    enum Action: Equatable {
        case store([AuditEvent])
        case replay(publisher: String, after: UInt64, incarnation: String)
        case acknowledge(publisher: String, upTo: UInt64, incarnation: String)
        /// The journal pruned `from...through` before this store held them (the audit store was reset
        /// or restored): the cursor passes over them, and the hole is recorded.
        case skip(JournalKey, from: UInt64, through: UInt64)
    }

    /// Only these publish journalled events.
    static let publishers: Set<String> = ["broker", "aggregator"]

    private(set) var cursors: [JournalKey: UInt64]
    /// Each publisher's current incarnation.
    private(set) var current: [String: String]
    private var replaying: Set<String> = []
    private var acknowledged: [JournalKey: UInt64] = [:]
    private var lastAckAt: Date?
    private var lastProbe: [String: Date] = [:]
    let ackInterval: TimeInterval

    init(cursors: [JournalKey: UInt64], current: [String: String], ackInterval: TimeInterval = 1) {
        self.cursors = cursors
        self.current = current
        self.ackInterval = ackInterval
        for (key, seq) in cursors { acknowledged[key] = seq }
    }

    /// At start: ask every publisher known so far for what it journalled since.
    mutating func start() -> [Action] {
        current.keys.sorted().compactMap { requestReplay($0) }
    }

    /// Events that arrived live. Unknown publishers and events at or below their cursor are dropped.
    mutating func received(_ events: [AuditEvent]) -> [Action] {
        let fresh = events.filter { event in
            guard Self.publishers.contains(event.publisher) else { return false }
            let key = JournalKey(publisher: event.publisher, incarnation: event.incarnation)
            if cursors[key] == nil {
                // A journal incarnation never seen before: the publisher's store is new.
                cursors[key] = 0
                current[event.publisher] = event.incarnation
            }
            return event.seq > cursors[key]!
        }
        return fresh.isEmpty ? [] : [.store(fresh)]
    }

    /// The store took a batch: `updated` are the new contiguous positions, `highest` the highest
    /// sequence stored per incarnation in that batch.
    mutating func stored(updated: [JournalKey: UInt64], highest: [JournalKey: UInt64]) -> [Action] {
        var actions: [Action] = []
        for (key, cursor) in updated.sorted(by: { $0.key < $1.key }) {
            cursors[key] = max(cursors[key] ?? 0, cursor)
            if (highest[key] ?? 0) > cursor, key.incarnation == current[key.publisher] {
                // A gap: something between the cursor and the highest never arrived on the bus.
                if let replay = requestReplay(key.publisher) { actions.append(replay) }
            }
        }
        return actions
    }

    /// A publisher's beacon.
    mutating func beacon(_ beacon: Beacon, now: Date) -> [Action] {
        guard Self.publishers.contains(beacon.publisher) else { return [] }
        let incarnation = beacon.incarnation ?? ""
        let key = JournalKey(publisher: beacon.publisher, incarnation: incarnation)
        if current[beacon.publisher] != incarnation {
            current[beacon.publisher] = incarnation
            if cursors[key] == nil { cursors[key] = 0 }
        }
        let cursor = cursors[key] ?? 0
        if beacon.lastSeq > cursor {
            return requestReplay(beacon.publisher).map { [$0] } ?? []
        }
        if beacon.lastSeq < cursor {
            // The publisher holds less than we stored from it: its store was restored from an older
            // copy. Saying what we have makes it start a new incarnation (at most every 5 s).
            if let last = lastProbe[beacon.publisher], now.timeIntervalSince(last) < 5 { return [] }
            lastProbe[beacon.publisher] = now
            return [.acknowledge(publisher: beacon.publisher, upTo: cursor, incarnation: incarnation)]
        }
        return []
    }

    /// A replay page arrived. The next page is asked for at once, then this one's events are stored.
    mutating func replayed(_ publisher: String, page: JournalPage) -> [Action] {
        replaying.remove(publisher)
        let key = JournalKey(publisher: publisher, incarnation: page.incarnation)
        if current[publisher] != page.incarnation {
            current[publisher] = page.incarnation
        }
        if cursors[key] == nil { cursors[key] = 0 }
        var actions: [Action] = []
        if let pruned = page.prunedThrough, pruned > cursors[key]! {
            actions.append(.skip(key, from: cursors[key]! + 1, through: pruned))
            cursors[key] = pruned
        }
        let events = page.events.filter { $0.publisher == publisher && $0.incarnation == page.incarnation }
        guard let last = events.last else { return actions }
        // The next page is asked for before this one is stored, so the publisher reads it while this
        // one is written (nothing depends on the order: the store and its cursors decide what is held).
        replaying.insert(publisher)
        actions.append(.replay(publisher: publisher, after: last.seq, incarnation: page.incarnation))
        actions.append(.store(events))
        return actions
    }

    /// A replay request failed (timeout, publisher away): the next beacon or gap asks again.
    mutating func replayFailed(_ publisher: String) {
        replaying.remove(publisher)
    }

    /// About once a second: acknowledge every incarnation whose cursor moved, so publishers prune.
    mutating func tick(now: Date) -> [Action] {
        if let last = lastAckAt, now.timeIntervalSince(last) < ackInterval { return [] }
        lastAckAt = now
        var actions: [Action] = []
        for (key, cursor) in cursors.sorted(by: { $0.key < $1.key }) where cursor > (acknowledged[key] ?? 0) {
            guard key.incarnation == current[key.publisher] else { continue }
            acknowledged[key] = cursor
            actions.append(.acknowledge(publisher: key.publisher, upTo: cursor, incarnation: key.incarnation))
        }
        return actions
    }

    private mutating func requestReplay(_ publisher: String) -> Action? {
        guard Self.publishers.contains(publisher), !replaying.contains(publisher) else { return nil }
        replaying.insert(publisher)
        let incarnation = current[publisher] ?? ""
        return .replay(
            publisher: publisher,
            after: cursors[JournalKey(publisher: publisher, incarnation: incarnation)] ?? 0,
            incarnation: incarnation
        )
    }
}
