import Foundation

/// A service's latest health sample.
public struct HealthReport: Codable, Sendable, Hashable {
    public var status: HealthStatus
    public var message: String?
    public var details: JSONValue?

    public init(status: HealthStatus, message: String? = nil, details: JSONValue? = nil) {
        self.status = status
        self.message = message
        self.details = details
    }
}

extension HealthReport {
    /// The report from a parsed JSON value, read as `init(from:)` reads it.
    package init(jsonValue json: JSONValue) throws(JSONFieldError) {
        status = try json.oneOf("status", HealthStatus.self)
        message = try json.optionalString("message")
        details = json.member("details")
    }
}

extension HealthReport: JSONWritable {
    /// The members `encode(to:)` writes, in its order; absent optionals are left out, as there.
    package func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("status", status.rawValue, first: true)
        writer.field("message", message)
        writer.field("details", details)
        writer.endObject()
    }
}
