/// The lifecycle status of an agent (design §2).
public enum AgentStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case pending = "PENDING"
    case online = "ONLINE"
    case offline = "OFFLINE"
    case disabled = "DISABLED"
    case revoked = "REVOKED"
}
