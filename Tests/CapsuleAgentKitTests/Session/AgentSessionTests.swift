import CapsuleProtocol
import Foundation
import Testing

@testable import CapsuleAgentKit

struct AgentSessionTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    /// A session that said hello at 0 s and was welcomed at 1 s.
    static func welcomed() -> AgentSession {
        var session = AgentSession()
        _ = session.dealerConnected(now: t0)
        _ = session.welcome(agentId: "agt_1", now: at(1))
        return session
    }

    /// A welcomed session whose PUB link came up at 2 s and published its first report at 2.2 s.
    static func publishing() -> AgentSession {
        var session = welcomed()
        session.publisherConnected(now: at(2))
        _ = session.tick(now: at(2.2))
        session.reportPublished()
        return session
    }

    @Test func theHandshakeSendsHello() {
        var session = AgentSession()
        #expect(session.dealerConnected(now: Self.t0) == [.sendHello])
    }

    @Test func noHelloBeforeTheHandshake() {
        var session = AgentSession()
        #expect(session.tick(now: Self.at(60)).isEmpty)
    }

    @Test func anUnansweredHelloIsSentAgainEveryFiveSeconds() {
        var session = AgentSession()
        _ = session.dealerConnected(now: Self.t0)
        #expect(session.tick(now: Self.at(4.9)).isEmpty)
        #expect(session.tick(now: Self.at(5)) == [.sendHello])
        #expect(session.tick(now: Self.at(9.9)).isEmpty, "the clock restarts at each hello")
        #expect(session.tick(now: Self.at(10)) == [.sendHello])
    }

    @Test func aWelcomedSessionStopsSayingHello() {
        var session = Self.welcomed()
        #expect(session.tick(now: Self.at(100)).isEmpty)
        #expect(session.agentId == "agt_1")
        #expect(session.welcomed)
    }

    @Test func aDisconnectEndsTheWelcomeAndTheNextHandshakeSaysHelloAgain() {
        var session = Self.welcomed()
        session.dealerDisconnected()
        #expect(!session.welcomed)
        #expect(session.tick(now: Self.at(100)).isEmpty, "no hello while the link is down")
        #expect(session.dealerConnected(now: Self.at(101)) == [.sendHello])
        #expect(session.tick(now: Self.at(106)) == [.sendHello])
    }

    @Test(arguments: AgentSession.finalRefusals.sorted { $0.rawValue < $1.rawValue })
    func aFinalRefusalIsReportedOnceAndStopsEveryRetry(code: ErrorBody.Code) {
        var session = AgentSession()
        _ = session.dealerConnected(now: Self.t0)
        let error = ErrorBody(code, "refused")
        #expect(session.helloRefused(error) == [.reportRefusal(error, final: true)])
        #expect(session.finallyRefused)
        #expect(session.tick(now: Self.at(3_600)).isEmpty)
        #expect(session.helloRefused(error).isEmpty, "reported once")
        session.dealerDisconnected()
        #expect(session.dealerConnected(now: Self.at(3_601)).isEmpty, "not even after a reconnect")
    }

    @Test func theFinalRefusalsAreTheOnesNoRetryCanFix() {
        #expect(
            AgentSession.finalRefusals == [
                .tokenInvalid, .tokenUsed, .tokenExpired, .tokenRevoked, .tokenCodeMismatch, .agentCodeTaken,
                .agentCodeMismatch,
                .agentRevoked, .notAnAgent, .enrollmentTokenRequired, .serviceOwned, .invalidIdentifier,
                .tooManyServices,
            ]
        )
        #expect(!AgentSession.finalRefusals.contains(.agentDisabled), "a disabled agent may be enabled again")
        #expect(!AgentSession.finalRefusals.contains(.internal))
    }

    @Test(arguments: [ErrorBody.Code.agentDisabled, .internal, .keyDisabled, "some_future_code"])
    func aRetryableRefusalSlowsRetriesToThirtySeconds(code: ErrorBody.Code) {
        var session = AgentSession()
        _ = session.dealerConnected(now: Self.t0)
        let error = ErrorBody(code, "not now")
        #expect(session.helloRefused(error) == [.reportRefusal(error, final: false)])
        #expect(!session.finallyRefused)
        #expect(session.tick(now: Self.at(5)).isEmpty)
        #expect(session.tick(now: Self.at(29.9)).isEmpty)
        #expect(session.tick(now: Self.at(30)) == [.sendHello])
        #expect(session.helloRefused(error).isEmpty, "the same refusal is reported once")
        #expect(session.tick(now: Self.at(60)) == [.sendHello])
    }

    @Test func aDifferentRefusalIsReportedAgain() {
        var session = AgentSession()
        _ = session.dealerConnected(now: Self.t0)
        _ = session.helloRefused(ErrorBody(.agentDisabled, "disabled"))
        let final = ErrorBody(.agentRevoked, "revoked")
        #expect(session.helloRefused(final) == [.reportRefusal(final, final: true)])
        #expect(session.tick(now: Self.at(3_600)).isEmpty)
    }

    @Test func aWelcomeAfterARetryableRefusalRestoresTheFiveSecondRetry() {
        var session = AgentSession()
        _ = session.dealerConnected(now: Self.t0)
        _ = session.helloRefused(ErrorBody(.agentDisabled, "disabled"))
        _ = session.tick(now: Self.at(30))
        _ = session.welcome(agentId: "agt_1", now: Self.at(31))
        #expect(session.refusal == nil)
        session.dealerDisconnected()
        _ = session.dealerConnected(now: Self.at(40))
        #expect(session.tick(now: Self.at(45)) == [.sendHello])
        // Refused again later: reported again, since the welcome cleared the old refusal.
        let again = ErrorBody(.agentDisabled, "disabled")
        #expect(session.helloRefused(again) == [.reportRefusal(again, final: false)])
    }

    @Test func theFirstWelcomeOpensThePublisherOnceAndNoReportGoesOutBeforeItsHandshake() {
        var session = AgentSession()
        _ = session.dealerConnected(now: Self.t0)
        #expect(session.welcome(agentId: "agt_1", now: Self.at(1)) == [.openPublisher])
        #expect(!session.canPublish(now: Self.at(1)))
        #expect(session.tick(now: Self.at(60)).isEmpty, "no report without a PUB handshake")
        session.dealerDisconnected()
        _ = session.dealerConnected(now: Self.at(61))
        #expect(session.welcome(agentId: "agt_1", now: Self.at(62)).isEmpty, "the publisher is opened once")
    }

    @Test func theReportWaitsForTheSlowJoinerDelayAfterThePublisherHandshake() {
        var session = Self.welcomed()
        session.publisherConnected(now: Self.at(2))
        #expect(!session.canPublish(now: Self.at(2.1)))
        #expect(session.tick(now: Self.at(2.1)).isEmpty)
        #expect(session.canPublish(now: Self.at(2.2)))
        #expect(session.tick(now: Self.at(2.2)) == [.publishReport])
        #expect(session.tick(now: Self.at(2.3)) == [.publishReport], "until it is published")
        session.reportPublished()
        #expect(session.tick(now: Self.at(2.4)).isEmpty)
    }

    @Test func aReportGoesOutAgainAfterEveryWelcome() {
        var session = Self.publishing()
        session.dealerDisconnected()
        _ = session.dealerConnected(now: Self.at(10))
        #expect(session.welcome(agentId: "agt_1", now: Self.at(11)) == [.publishReport])
    }

    @Test func aReportGoesOutAgainAfterAPublisherReconnectAndItsWait() {
        var session = Self.publishing()
        session.publisherDisconnected()
        #expect(!session.canPublish(now: Self.at(10)), "no heartbeats while the PUB link is down")
        session.publisherConnected(now: Self.at(20))
        #expect(session.tick(now: Self.at(20.1)).isEmpty)
        #expect(session.tick(now: Self.at(20.2)) == [.publishReport])
    }

    @Test func aReportIsSentWhenAskedForOrWhenManifestsChange() {
        var session = Self.publishing()
        #expect(session.tick(now: Self.at(5)).isEmpty)
        #expect(session.reportNeeded(now: Self.at(6)) == [.publishReport])
        session.reportPublished()
        #expect(session.tick(now: Self.at(7)).isEmpty)
    }

    @Test func aReportAskedForBeforeThePublisherIsReadyWaitsForIt() {
        var session = Self.welcomed()
        #expect(session.reportNeeded(now: Self.at(1.5)).isEmpty)
        session.publisherConnected(now: Self.at(2))
        #expect(session.tick(now: Self.at(2.2)) == [.publishReport])
    }

    @Test func canPublishNeedsAnAgentIdAndAReadyPublisher() {
        var session = AgentSession()
        session.publisherConnected(now: Self.t0)
        #expect(!session.canPublish(now: Self.at(10)), "a PUB link without a welcome publishes nothing")
        _ = session.dealerConnected(now: Self.at(10))
        _ = session.welcome(agentId: "agt_1", now: Self.at(11))
        #expect(session.canPublish(now: Self.at(11)))
        // A lost router link does not stop heartbeats on a PUB link that is still up.
        session.dealerDisconnected()
        #expect(session.canPublish(now: Self.at(12)))
    }
}
