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

extension HealthReport {
    /// The report straight from a reader, as ``init(jsonValue:)`` reads it, for the members `status`,
    /// `message` and `details`, each once. Throws on anything else (another member, a repeated one, a
    /// value of another type), which the full reading then judges.
    package init(reading reader: inout JSONParser.Reader) throws {
        var status: HealthStatus?
        var message: String??
        var details: JSONValue??
        try reader.object { name, reader in
            switch name {
            case "status" where status == nil:
                guard let parsed = HealthStatus(rawValue: try reader.string()) else { throw ShapeReadingDeclined() }
                status = parsed
            case "message" where message == nil: message = .some(try reader.optionalString())
            case "details" where details == nil: details = .some(try reader.optionalValue())
            default: throw ShapeReadingDeclined()
            }
        }
        guard let status else { throw ShapeReadingDeclined() }
        self.init(status: status, message: message ?? nil, details: details ?? nil)
    }
}

/// A shape reading (``JSONParser/Reader``) met something it leaves to the full reading.
package struct ShapeReadingDeclined: Error {
    package init() {}
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
