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
