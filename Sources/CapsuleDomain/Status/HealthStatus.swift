/// Health a service reports about itself (design §2).
public enum HealthStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case up = "UP"
    case degraded = "DEGRADED"
    case down = "DOWN"
    case unknown = "UNKNOWN"
}
