import CapsuleDomain
import Foundation

/// When the broker last forwarded a heartbeat from each agent, so it can tell an operator that a
/// command is queued for an agent that is `STALE` or `OFFLINE` (design §4) without asking the
/// aggregator. One dictionary write per heartbeat.
struct Presence {
    private var lastHeartbeat: [String: Date] = [:]

    mutating func heartbeat(_ agentId: String, at now: Date) { lastHeartbeat[agentId] = now }

    mutating func forget(_ agentId: String) { lastHeartbeat[agentId] = nil }

    /// `ONLINE`, `STALE`, `OFFLINE`, or `PENDING` when no heartbeat was seen since the broker started.
    func status(_ agentId: String, now: Date, thresholds: StatusThresholds) -> String {
        guard let last = lastHeartbeat[agentId] else { return "PENDING" }
        let silence = now.timeIntervalSince(last)
        if silence >= thresholds.offlineSeconds { return "OFFLINE" }
        if silence > thresholds.staleSeconds { return "STALE" }
        return "ONLINE"
    }
}
