package import CapsuleDomain
package import Foundation

/// One service's health inside a heartbeat or health message.
package struct ServiceHealth: Codable, Sendable, Hashable {
    package var code: String
    package var health: HealthReport
    /// When the agent sampled it (epoch ms at the agent).
    package var sampledAt: Date

    package init(code: String, health: HealthReport, sampledAt: Date) {
        self.code = code
        self.health = health
        self.sampledAt = sampledAt
    }
}

extension ServiceHealth {
    /// The sample from a parsed JSON value, read as `init(from:)` reads it (dates in epoch ms).
    package init(jsonValue json: JSONValue) throws(JSONFieldError) {
        code = try json.string("code")
        guard let health = json.member("health") else { throw JSONFieldError("health", expected: "an object") }
        self.health = try HealthReport(jsonValue: health)
        sampledAt = Date(timeIntervalSince1970: try json.number("sampledAt") / 1_000)
    }
}

extension ServiceHealth {
    /// The sample straight from a reader, as ``init(jsonValue:)`` reads it, for the members `code`,
    /// `health` and `sampledAt`, each once; throws on anything else.
    package init(reading reader: inout JSONParser.Reader) throws {
        var code: String?
        var health: HealthReport?
        var sampledAt: Double?
        try reader.object { name, reader in
            switch name {
            case "code" where code == nil: code = try reader.string()
            case "health" where health == nil: health = try HealthReport(reading: &reader)
            case "sampledAt" where sampledAt == nil: sampledAt = try reader.number()
            default: throw ShapeReadingDeclined()
            }
        }
        guard let code, let health, let sampledAt else { throw ShapeReadingDeclined() }
        self.init(code: code, health: health, sampledAt: Date(timeIntervalSince1970: sampledAt / 1_000))
    }
}

extension ServiceHealth: JSONWritable {
    /// The members `encode(to:)` writes, in its order (the date in epoch ms, as ``WireCodec`` writes it).
    package func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("code", code, first: true)
        writer.key("health")
        health.write(into: &writer)
        writer.field("sampledAt", sampledAt)
        writer.endObject()
    }
}
