package import CapsuleDomain

/// The header frame every Capsule message carries (docs/protocol.md, "Header").
package struct Header: Codable, Sendable, Hashable {
    /// Protocol version; this build speaks ``WireCodec/version``.
    package var v: Int
    package var type: MessageType
    /// Unique per message (a UUID string).
    package var id: String
    /// The identity the sender claims: an agentId, `aggregator`, `audit`, `broker` or `operator:NAME`.
    package var sender: String
    /// Milliseconds since the Unix epoch at the sender.
    package var ts: Int64
    /// Per-publisher sequence number on PUB streams; 0 on request/reply.
    package var seq: UInt64
    /// For replies: the `id` of the request answered.
    package var corr: String?
    /// On a request the broker forwards to an internal service: who asked (`operator:NAME` or a
    /// service name). Set only by the broker; workers trust it because only the broker reaches them.
    package var caller: String?

    package init(
        type: MessageType,
        id: String,
        sender: String,
        ts: Int64,
        seq: UInt64 = 0,
        corr: String? = nil,
        caller: String? = nil
    ) {
        self.v = WireCodec.version
        self.type = type
        self.id = id
        self.sender = sender
        self.ts = ts
        self.seq = seq
        self.corr = corr
        self.caller = caller
    }
}

extension Header: JSONValueDecodable {
    /// The header from a parsed JSON value, read as `init(from:)` reads it (``WireCodec/decodeHeader(_:)``
    /// takes this path first).
    package init(fields json: some JSONFields) throws(JSONFieldError) {
        v = try json.integer("v")
        type = try json.oneOf("type", MessageType.self)
        id = try json.string("id")
        sender = try json.string("sender")
        ts = Int64(try json.integer("ts"))
        seq = try json.unsigned("seq")
        corr = try json.optionalString("corr")
        caller = try json.optionalString("caller")
    }
}

extension Header: JSONWritable {
    /// The members `encode(to:)` writes, in its order; absent optionals are left out, as there.
    package func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("v", v, first: true)
        writer.field("type", type.rawValue)
        writer.field("id", id)
        writer.field("sender", sender)
        writer.field("ts", ts)
        writer.field("seq", seq)
        writer.field("corr", corr)
        writer.field("caller", caller)
        writer.endObject()
    }
}
