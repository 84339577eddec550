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
        guard let status = HealthStatus(rawValue: try json.string("status")) else {
            throw JSONFieldError(
                "status",
                expected: "one of \(HealthStatus.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        self.status = status
        message = try json.optionalString("message")
        details = json.member("details")
    }
}
