import CapsuleDomain
import Foundation
import Testing

@testable import CapsuleBroker

struct PresenceTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    static let thresholds = StatusThresholds(heartbeatSeconds: 30, staleSeconds: 60, offlineSeconds: 90)

    @Test func anAgentNeverHeardFromIsPending() {
        #expect(Presence().status("agt_1", now: Self.t0, thresholds: Self.thresholds) == "PENDING")
    }

    @Test(
        arguments: [
            (0.0, "ONLINE"), (30, "ONLINE"), (60, "ONLINE"), (60.001, "STALE"), (89.999, "STALE"), (90, "OFFLINE"),
            (86_400, "OFFLINE"),
        ] as [(Double, String)]
    )
    func theSilenceSinceTheLastHeartbeatDecides(silence: Double, status: String) {
        var presence = Presence()
        presence.heartbeat("agt_1", at: Self.t0)
        #expect(
            presence.status("agt_1", now: Self.t0.addingTimeInterval(silence), thresholds: Self.thresholds) == status
        )
    }

    @Test func theThresholdsArePassedIn() {
        var presence = Presence()
        presence.heartbeat("agt_1", at: Self.t0)
        let tight = StatusThresholds(heartbeatSeconds: 1, staleSeconds: 2, offlineSeconds: 3)
        #expect(presence.status("agt_1", now: Self.t0.addingTimeInterval(2.5), thresholds: tight) == "STALE")
        #expect(presence.status("agt_1", now: Self.t0.addingTimeInterval(2.5), thresholds: Self.thresholds) == "ONLINE")
    }

    @Test func aNewHeartbeatBringsAnAgentBackAndAgentsAreApart() {
        var presence = Presence()
        presence.heartbeat("agt_1", at: Self.t0)
        presence.heartbeat("agt_2", at: Self.t0.addingTimeInterval(100))
        let now = Self.t0.addingTimeInterval(100)
        #expect(presence.status("agt_1", now: now, thresholds: Self.thresholds) == "OFFLINE")
        #expect(presence.status("agt_2", now: now, thresholds: Self.thresholds) == "ONLINE")
        presence.heartbeat("agt_1", at: now)
        #expect(presence.status("agt_1", now: now, thresholds: Self.thresholds) == "ONLINE")
    }

    @Test func aForgottenAgentIsPendingAgain() {
        var presence = Presence()
        presence.heartbeat("agt_1", at: Self.t0)
        presence.forget("agt_1")
        #expect(presence.status("agt_1", now: Self.t0, thresholds: Self.thresholds) == "PENDING")
    }
}
