package import CapsuleDomain
package import Foundation

/// `heartbeat`: sent by every agent on its cadence; carries the full current health.
package struct Heartbeat: Codable, Sendable, Hashable {
    package var agentId: String
    package var agentCode: String
    package var manifestDigest: String
    package var intervalSeconds: Double
    package var services: [ServiceHealth]
    /// Heartbeats the agent discarded instead of sending late (counted since it started).
    package var droppedStale: Int

    package init(
        agentId: String,
        agentCode: String,
        manifestDigest: String,
        intervalSeconds: Double,
        services: [ServiceHealth],
        droppedStale: Int = 0
    ) {
        self.agentId = agentId
        self.agentCode = agentCode
        self.manifestDigest = manifestDigest
        self.intervalSeconds = intervalSeconds
        self.services = services
        self.droppedStale = droppedStale
    }
}

extension Heartbeat: JSONValueDecodable {
    /// The heartbeat from a parsed JSON value, read as `init(from:)` reads it: the aggregator reads
    /// 1,800 a second at 9,000 agents, and `JSONDecoder` was most of its cost.
    package init(fields json: some JSONFields) throws(JSONFieldError) {
        agentId = try json.string("agentId")
        agentCode = try json.string("agentCode")
        manifestDigest = try json.string("manifestDigest")
        intervalSeconds = try json.number("intervalSeconds")
        var services: [ServiceHealth] = []
        for item in try json.array("services") { services.append(try ServiceHealth(jsonValue: item)) }
        self.services = services
        droppedStale = try json.integer("droppedStale")
    }
}

extension Heartbeat {
    /// The heartbeat read straight from its JSON text in the shape every agent writes (each member
    /// once, each of its type), without building a dictionary per object: the aggregator reads every
    /// heartbeat, and those dictionaries were most of its decoding (Benchmarks/README.md). Nil for
    /// anything else (another member, a repeated one, `null` where a value is required, malformed
    /// text): the caller then reads it through ``init(fields:)``, which accepts or refuses it and says
    /// why. Where this gives a heartbeat, it is the one ``init(fields:)`` gives (`HeartbeatReadingTests`).
    package static func read(_ body: Data) -> Heartbeat? {
        JSONParser.Reader.read(body) { reader in
            var agentId: String?
            var agentCode: String?
            var manifestDigest: String?
            var intervalSeconds: Double?
            var services: [ServiceHealth]?
            var droppedStale: Int?
            try reader.object { name, reader in
                switch name {
                case "agentId" where agentId == nil: agentId = try reader.string()
                case "agentCode" where agentCode == nil: agentCode = try reader.string()
                case "manifestDigest" where manifestDigest == nil: manifestDigest = try reader.string()
                case "intervalSeconds" where intervalSeconds == nil: intervalSeconds = try reader.number()
                case "services" where services == nil:
                    var read: [ServiceHealth] = []
                    try reader.array { reader in read.append(try ServiceHealth(reading: &reader)) }
                    services = read
                case "droppedStale" where droppedStale == nil: droppedStale = try reader.integer()
                default: throw ShapeReadingDeclined()
                }
            }
            guard let agentId, let agentCode, let manifestDigest, let intervalSeconds, let services, let droppedStale
            else { throw ShapeReadingDeclined() }
            return Heartbeat(
                agentId: agentId,
                agentCode: agentCode,
                manifestDigest: manifestDigest,
                intervalSeconds: intervalSeconds,
                services: services,
                droppedStale: droppedStale
            )
        }
    }
}

extension Heartbeat: JSONWritable {
    /// The members `encode(to:)` writes, in its order: every agent writes one per interval, and
    /// `JSONEncoder` was most of `WireCodec.encode`'s 9–11 µs (Benchmarks/README.md).
    package func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("agentId", agentId, first: true)
        writer.field("agentCode", agentCode)
        writer.field("manifestDigest", manifestDigest)
        writer.field("intervalSeconds", intervalSeconds)
        writer.key("services")
        writer.array(services)
        writer.field("droppedStale", droppedStale)
        writer.endObject()
    }
}
