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
