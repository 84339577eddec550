package import Foundation

/// What the aggregator knows about one service when it applies the rule.
package struct StatusInput: Sendable, Hashable {
    /// The agent's administrative status, or nil when it is neither disabled nor revoked.
    package var agentAdminStatus: AgentStatus?
    package var lastHeartbeatAt: Date?
    package var health: HealthStatus?
    package var healthAt: Date?

    package init(agentAdminStatus: AgentStatus? = nil, lastHeartbeatAt: Date?, health: HealthStatus?, healthAt: Date?) {
        self.agentAdminStatus = agentAdminStatus
        self.lastHeartbeatAt = lastHeartbeatAt
        self.health = health
        self.healthAt = healthAt
    }
}

/// A status and the short reason for it.
package struct StatusVerdict<Status: Sendable & Hashable>: Sendable, Hashable {
    package var status: Status
    package var reason: String

    package init(_ status: Status, _ reason: String) {
        self.status = status
        self.reason = reason
    }
}

/// The effectiveStatus rule of design §3, as a pure function. First match wins.
package enum EffectiveStatusRule {
    package static func evaluate(
        _ input: StatusInput,
        now: Date,
        thresholds: StatusThresholds
    ) -> StatusVerdict<EffectiveStatus> {
        // 1. Administrative state of the agent.
        if input.agentAdminStatus == .disabled { return .init(.offline, "agent disabled") }
        if input.agentAdminStatus == .revoked { return .init(.offline, "agent revoked") }
        // 2. No heartbeat for the offline threshold.
        if let heartbeat = input.lastHeartbeatAt {
            let silence = now.timeIntervalSince(heartbeat)
            if silence >= thresholds.offlineSeconds {
                return .init(.offline, "no heartbeat for \(seconds(silence))")
            }
        }
        // 3. Never reported health.
        guard let health = input.health, let healthAt = input.healthAt else {
            if input.lastHeartbeatAt == nil { return .init(.unknown, "agent has not sent a heartbeat yet") }
            return .init(.unknown, "no health reported yet")
        }
        // 4. Heartbeat or health older than the stale threshold.
        if let heartbeat = input.lastHeartbeatAt, now.timeIntervalSince(heartbeat) > thresholds.staleSeconds {
            return .init(.stale, "no heartbeat for \(seconds(now.timeIntervalSince(heartbeat)))")
        }
        if now.timeIntervalSince(healthAt) > thresholds.staleSeconds {
            return .init(.stale, "no health for \(seconds(now.timeIntervalSince(healthAt)))")
        }
        // 5. The latest health.
        switch health {
        case .up: return .init(.healthy, "health UP")
        case .degraded: return .init(.unhealthy, "health DEGRADED")
        case .down: return .init(.unhealthy, "health DOWN")
        case .unknown: return .init(.unknown, "health UNKNOWN")
        }
    }

    /// The agent's own status: administrative state first, then heartbeat silence.
    package static func agentStatus(
        adminStatus: AgentStatus?,
        lastHeartbeatAt: Date?,
        now: Date,
        thresholds: StatusThresholds
    ) -> StatusVerdict<AgentStatus> {
        if adminStatus == .disabled { return .init(.disabled, "agent disabled") }
        if adminStatus == .revoked { return .init(.revoked, "agent revoked") }
        guard let heartbeat = lastHeartbeatAt else { return .init(.pending, "no heartbeat yet") }
        let silence = now.timeIntervalSince(heartbeat)
        if silence >= thresholds.offlineSeconds { return .init(.offline, "no heartbeat for \(seconds(silence))") }
        return .init(.online, "heartbeat received")
    }

    static func seconds(_ interval: TimeInterval) -> String {
        "\(Int(interval.rounded(.down))) s"
    }
}
