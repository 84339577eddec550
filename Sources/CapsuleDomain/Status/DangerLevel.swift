/// How dangerous an action is, declared by the service.
public enum DangerLevel: String, Codable, Sendable, Hashable, CaseIterable {
    case low = "LOW"
    case medium = "MEDIUM"
    case high = "HIGH"
    case critical = "CRITICAL"
}
