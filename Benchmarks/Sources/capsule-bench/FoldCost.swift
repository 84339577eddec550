import CapsuleAggregator
import CapsuleDomain
import CapsuleProtocol
import Foundation

/// The aggregator's fold alone: one heartbeat into a board of `agents` reported agents, each with
/// two declared services, round robin, the clock advancing a millisecond per heartbeat.
enum FoldCost {
    /// Microseconds per `StatusBoard.apply(_:now:)` of one heartbeat.
    static func fold(iterations: Int, agents: Int = 1_000) -> Double {
        let thresholds = StatusThresholds(heartbeatSeconds: 5, staleSeconds: 15, offlineSeconds: 30)
        var board = StatusBoard(thresholds: thresholds)
        var now = Date()
        var heartbeats: [Heartbeat] = []
        for index in 0..<agents {
            let agentId = "agt_\(String(index, radix: 16).leftPadded(to: 12))"
            let codes = ["svc-\(index)-bridge", "svc-\(index)-worker"]
            let report = ServiceReport(
                agentId: agentId,
                agentCode: "host-\(index)",
                services: codes.map { ServiceManifest(code: $0, name: $0, version: "1.0.0", runtime: "swift") }
            )
            _ = board.apply(report, now: now)
            heartbeats.append(
                Heartbeat(
                    agentId: agentId,
                    agentCode: "host-\(index)",
                    manifestDigest: report.digest,
                    intervalSeconds: 5,
                    services: codes.map { ServiceHealth(code: $0, health: HealthReport(status: .up), sampledAt: now) }
                )
            )
        }
        var transitions = 0
        // One warm-up round, so every agent has its first heartbeat and the loop measures steady state.
        for heartbeat in heartbeats { transitions &+= board.apply(heartbeat, now: now).count }
        let start = monotonic()
        for iteration in 0..<iterations {
            now = now.addingTimeInterval(0.001)
            transitions &+= board.apply(heartbeats[iteration % agents], now: now).count
            if iteration % 1_000 == 0 {
                transitions &+= board.sweep(now: now).count
                board.clearDirty()
            }
        }
        let elapsed = monotonic() - start
        precondition(transitions > 0 && board.summary.totalServices == 2 * agents)
        return elapsed / Double(iterations) * 1e6
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
