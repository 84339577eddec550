package import CapsuleDomain
package import CapsuleProtocol
package import Foundation

/// Stamps outgoing headers for one sender: a fresh id, the time, and the next sequence number.
/// Used only on the thread that owns the sending socket.
package struct MessageFactory {
    package let sender: String
    package private(set) var seq: UInt64
    private let now: @Sendable () -> Date

    package init(sender: String, startingSeq: UInt64 = 0, now: @escaping @Sendable () -> Date = Date.init) {
        self.sender = sender
        self.seq = startingSeq
        self.now = now
    }

    /// A header for a sequenced PUB message.
    package mutating func sequenced(_ type: MessageType) -> Header {
        seq += 1
        return Header(type: type, id: MessageID.next(), sender: sender, ts: Self.millis(now()), seq: seq)
    }

    /// A header for request/reply, not sequenced. The id is a ``MessageID`` (no random-device read per message).
    package func plain(_ type: MessageType, corr: String? = nil, id: String = MessageID.next()) -> Header {
        Header(type: type, id: id, sender: sender, ts: Self.millis(now()), seq: 0, corr: corr)
    }

    package static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// The frames of a journalled event on a PUB stream: topic `evt.<action>`, and the journal's
    /// sequence number in the header, so subscribers can see gaps.
    package func event(_ event: AuditEvent) -> [Data] {
        let header = Header(type: .event, id: MessageID.next(), sender: sender, ts: Self.millis(now()), seq: event.seq)
        return WireCodec.encode(topic: Topic.event(event.action), header: header, body: event)
    }

    /// The frames of this publisher's beacon: its journal's incarnation and last sequence number.
    package func beacon(_ beacon: Beacon) -> [Data] {
        WireCodec.encode(topic: Topic.beacon(sender), header: plain(.beacon), body: beacon)
    }
}
