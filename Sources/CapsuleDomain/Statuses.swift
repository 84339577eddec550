/// Health a service reports about itself (design §2).
public enum HealthStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case up = "UP"
    case degraded = "DEGRADED"
    case down = "DOWN"
    case unknown = "UNKNOWN"
}

/// The lifecycle status of an agent (design §2).
public enum AgentStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case pending = "PENDING"
    case online = "ONLINE"
    case offline = "OFFLINE"
    case disabled = "DISABLED"
    case revoked = "REVOKED"
}

/// The one status an operator sees per service; computed only by the aggregator (design §3).
public enum EffectiveStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case healthy = "HEALTHY"
    case unhealthy = "UNHEALTHY"
    case stale = "STALE"
    case offline = "OFFLINE"
    case unknown = "UNKNOWN"
}

/// The lifecycle status of an operator command (design §4).
public enum CommandStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case pending = "PENDING"
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case expired = "EXPIRED"
    case cancelled = "CANCELLED"

    /// Whether no further transition is possible.
    public var isTerminal: Bool {
        switch self {
        case .pending, .running: false
        case .succeeded, .failed, .expired, .cancelled: true
        }
    }
}

/// The status of a registration token.
public enum TokenStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case active = "ACTIVE"
    case used = "USED"
    case revoked = "REVOKED"
    case expired = "EXPIRED"
}

/// Whether an audited action succeeded.
public enum AuditResult: String, Codable, Sendable, Hashable, CaseIterable {
    case success = "SUCCESS"
    case failure = "FAILURE"
}

/// How dangerous an action is, declared by the service.
public enum DangerLevel: String, Codable, Sendable, Hashable, CaseIterable {
    case low = "LOW"
    case medium = "MEDIUM"
    case high = "HIGH"
    case critical = "CRITICAL"
}
