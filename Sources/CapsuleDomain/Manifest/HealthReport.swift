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
