import CapsuleDomain
import Foundation
import Testing

/// Short thresholds so the table reads in seconds: heartbeat 1 s, STALE after 3 s, OFFLINE at 5 s.
private let thresholds = StatusThresholds(heartbeatSeconds: 1, staleSeconds: 3, offlineSeconds: 5)
private let now = Date(timeIntervalSince1970: 1_700_000_000)

/// `now` minus `seconds`.
private func ago(_ seconds: Double) -> Date { now.addingTimeInterval(-seconds) }

struct EffectiveStatusCase: Sendable, CustomTestStringConvertible {
    var name: String
    var input: StatusInput
    var status: EffectiveStatus
    var reason: String

    init(
        _ name: String,
        admin: AgentStatus? = nil,
        heartbeat: Double?,
        health: HealthStatus?,
        healthAge: Double?,
        _ status: EffectiveStatus,
        _ reason: String
    ) {
        self.name = name
        self.input = StatusInput(
            agentAdminStatus: admin,
            lastHeartbeatAt: heartbeat.map(ago),
            health: health,
            healthAt: healthAge.map(ago)
        )
        self.status = status
        self.reason = reason
    }

    var testDescription: String { name }
}

struct EffectiveStatusRuleTests {
    static let cases: [EffectiveStatusCase] = [
        // Row 1: administrative state, before anything else.
        .init(
            "1 disabled beats fresh UP",
            admin: .disabled,
            heartbeat: 0,
            health: .up,
            healthAge: 0,
            .offline,
            "agent disabled"
        ),
        .init(
            "1 revoked beats fresh UP",
            admin: .revoked,
            heartbeat: 0,
            health: .up,
            healthAge: 0,
            .offline,
            "agent revoked"
        ),
        .init(
            "1 disabled without any heartbeat",
            admin: .disabled,
            heartbeat: nil,
            health: nil,
            healthAge: nil,
            .offline,
            "agent disabled"
        ),
        .init(
            "1 revoked beats offline silence",
            admin: .revoked,
            heartbeat: 60,
            health: .down,
            healthAge: 60,
            .offline,
            "agent revoked"
        ),
        .init(
            "1 disabled beats never reported",
            admin: .disabled,
            heartbeat: 0,
            health: nil,
            healthAge: nil,
            .offline,
            "agent disabled"
        ),
        // An admin status that is neither DISABLED nor REVOKED does not count as administrative.
        .init(
            "1 ONLINE admin is ignored",
            admin: .online,
            heartbeat: 0,
            health: .up,
            healthAge: 0,
            .healthy,
            "health UP"
        ),
        .init(
            "1 OFFLINE admin is ignored",
            admin: .offline,
            heartbeat: 0,
            health: .up,
            healthAge: 0,
            .healthy,
            "health UP"
        ),
        // Row 2: no heartbeat for the offline threshold (>=).
        .init(
            "2 exactly at offline threshold",
            heartbeat: 5,
            health: .up,
            healthAge: 0,
            .offline,
            "no heartbeat for 5 s"
        ),
        .init(
            "2 beyond offline, seconds rounded down",
            heartbeat: 7.9,
            health: .up,
            healthAge: 0,
            .offline,
            "no heartbeat for 7 s"
        ),
        .init(
            "2 offline beats stale health",
            heartbeat: 6,
            health: .up,
            healthAge: 6,
            .offline,
            "no heartbeat for 6 s"
        ),
        .init(
            "2 offline beats never reported",
            heartbeat: 10,
            health: nil,
            healthAge: nil,
            .offline,
            "no heartbeat for 10 s"
        ),
        .init("2 offline beats DOWN", heartbeat: 5, health: .down, healthAge: 1, .offline, "no heartbeat for 5 s"),
        // Row 3: never reported health.
        .init(
            "3 heartbeat but no health",
            heartbeat: 0,
            health: nil,
            healthAge: nil,
            .unknown,
            "no health reported yet"
        ),
        .init(
            "3 no heartbeat, no health",
            heartbeat: nil,
            health: nil,
            healthAge: nil,
            .unknown,
            "agent has not sent a heartbeat yet"
        ),
        .init("3 health without a time", heartbeat: 0, health: .up, healthAge: nil, .unknown, "no health reported yet"),
        .init(
            "3 never reported beats stale heartbeat",
            heartbeat: 4,
            health: nil,
            healthAge: nil,
            .unknown,
            "no health reported yet"
        ),
        // Row 4: heartbeat or health older than the stale threshold (strictly greater).
        .init(
            "4 heartbeat exactly at stale threshold is fresh",
            heartbeat: 3,
            health: .up,
            healthAge: 0,
            .healthy,
            "health UP"
        ),
        .init("4 heartbeat just past stale", heartbeat: 3.5, health: .up, healthAge: 0, .stale, "no heartbeat for 3 s"),
        .init(
            "4 heartbeat just below offline",
            heartbeat: 4.999,
            health: .up,
            healthAge: 0,
            .stale,
            "no heartbeat for 4 s"
        ),
        .init(
            "4 health exactly at stale threshold is fresh",
            heartbeat: 0,
            health: .up,
            healthAge: 3,
            .healthy,
            "health UP"
        ),
        .init("4 health older than stale", heartbeat: 0, health: .up, healthAge: 4, .stale, "no health for 4 s"),
        .init("4 stale health beats DOWN", heartbeat: 0, health: .down, healthAge: 30, .stale, "no health for 30 s"),
        .init(
            "4 stale heartbeat reported before stale health",
            heartbeat: 4,
            health: .up,
            healthAge: 4.5,
            .stale,
            "no heartbeat for 4 s"
        ),
        // Row 5: the latest health.
        .init("5 UP", heartbeat: 0, health: .up, healthAge: 0, .healthy, "health UP"),
        .init("5 DEGRADED", heartbeat: 1, health: .degraded, healthAge: 1, .unhealthy, "health DEGRADED"),
        .init("5 DOWN", heartbeat: 2, health: .down, healthAge: 2, .unhealthy, "health DOWN"),
        .init("5 UNKNOWN", heartbeat: 0, health: .unknown, healthAge: 0, .unknown, "health UNKNOWN"),
    ]

    @Test(arguments: cases)
    func evaluate(_ row: EffectiveStatusCase) {
        let verdict = EffectiveStatusRule.evaluate(row.input, now: now, thresholds: thresholds)
        #expect(verdict.status == row.status)
        #expect(verdict.reason == row.reason)
    }

    @Test(arguments: HealthStatus.allCases)
    func everyHealthMapsToItsStatus(_ health: HealthStatus) {
        let expected: [HealthStatus: EffectiveStatus] = [
            .up: .healthy, .degraded: .unhealthy, .down: .unhealthy, .unknown: .unknown,
        ]
        let input = StatusInput(lastHeartbeatAt: now, health: health, healthAt: now)
        #expect(EffectiveStatusRule.evaluate(input, now: now, thresholds: thresholds).status == expected[health])
    }

    /// Walks one input through time: fresh, stale at > 3 s, offline at 5 s.
    @Test func statusDegradesWithSilence() {
        let start = now
        let input = StatusInput(lastHeartbeatAt: start, health: .up, healthAt: start)
        let timeline: [(Double, EffectiveStatus)] = [
            (0, .healthy), (2.9, .healthy), (3, .healthy), (3.001, .stale), (4.9, .stale), (5, .offline),
            (500, .offline),
        ]
        for (offset, expected) in timeline {
            let verdict = EffectiveStatusRule.evaluate(
                input,
                now: start.addingTimeInterval(offset),
                thresholds: thresholds
            )
            #expect(verdict.status == expected, "at +\(offset) s")
        }
    }

    @Test func standardThresholdsMatchTheDesign() {
        #expect(
            StatusThresholds.standard == StatusThresholds(heartbeatSeconds: 30, staleSeconds: 60, offlineSeconds: 90)
        )
        let input = StatusInput(lastHeartbeatAt: ago(61), health: .up, healthAt: ago(1))
        #expect(EffectiveStatusRule.evaluate(input, now: now, thresholds: .standard).status == .stale)
        let gone = StatusInput(lastHeartbeatAt: ago(90), health: .up, healthAt: ago(1))
        #expect(
            EffectiveStatusRule.evaluate(gone, now: now, thresholds: .standard)
                == StatusVerdict(.offline, "no heartbeat for 90 s")
        )
    }
}

struct AgentStatusCase: Sendable, CustomTestStringConvertible {
    var name: String
    var admin: AgentStatus?
    var heartbeatAge: Double?
    var status: AgentStatus
    var reason: String

    var testDescription: String { name }
}

struct AgentStatusRuleTests {
    static let cases: [AgentStatusCase] = [
        .init(
            name: "disabled with fresh heartbeat",
            admin: .disabled,
            heartbeatAge: 0,
            status: .disabled,
            reason: "agent disabled"
        ),
        .init(
            name: "disabled never seen",
            admin: .disabled,
            heartbeatAge: nil,
            status: .disabled,
            reason: "agent disabled"
        ),
        .init(
            name: "revoked with fresh heartbeat",
            admin: .revoked,
            heartbeatAge: 0,
            status: .revoked,
            reason: "agent revoked"
        ),
        .init(
            name: "revoked and silent",
            admin: .revoked,
            heartbeatAge: 100,
            status: .revoked,
            reason: "agent revoked"
        ),
        .init(name: "never heartbeated", admin: nil, heartbeatAge: nil, status: .pending, reason: "no heartbeat yet"),
        .init(name: "fresh heartbeat", admin: nil, heartbeatAge: 0, status: .online, reason: "heartbeat received"),
        .init(
            name: "stale is still online",
            admin: nil,
            heartbeatAge: 4,
            status: .online,
            reason: "heartbeat received"
        ),
        .init(
            name: "just below offline",
            admin: nil,
            heartbeatAge: 4.999,
            status: .online,
            reason: "heartbeat received"
        ),
        .init(
            name: "exactly at offline",
            admin: nil,
            heartbeatAge: 5,
            status: .offline,
            reason: "no heartbeat for 5 s"
        ),
        .init(name: "long silence", admin: nil, heartbeatAge: 61.7, status: .offline, reason: "no heartbeat for 61 s"),
        .init(
            name: "ONLINE admin is not administrative",
            admin: .online,
            heartbeatAge: 10,
            status: .offline,
            reason: "no heartbeat for 10 s"
        ),
        .init(
            name: "PENDING admin is not administrative",
            admin: .pending,
            heartbeatAge: 0,
            status: .online,
            reason: "heartbeat received"
        ),
    ]

    @Test(arguments: cases)
    func agentStatus(_ row: AgentStatusCase) {
        let verdict = EffectiveStatusRule.agentStatus(
            adminStatus: row.admin,
            lastHeartbeatAt: row.heartbeatAge.map(ago),
            now: now,
            thresholds: thresholds
        )
        #expect(verdict.status == row.status)
        #expect(verdict.reason == row.reason)
    }
}
