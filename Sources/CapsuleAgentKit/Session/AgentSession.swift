import CapsuleProtocol
import Foundation

/// The agent's protocol session (docs/protocol.md §8) as a value type: socket events, broker
/// answers and clock ticks go in, actions come out, and ``AgentCore`` carries them out. No sockets,
/// no clock of its own.
struct AgentSession {
    enum Action: Equatable {
        case sendHello
        /// Connect the PUB socket to ingest (after the first welcome).
        case openPublisher
        case publishReport
        /// Log a refusal of the hello once; `final` ones stop the retries until the process restarts.
        case reportRefusal(ErrorBody, final: Bool)
    }

    /// Hello errors that no retry can fix: the token, the code or the key is wrong.
    static let finalRefusals: Set<ErrorBody.Code> = [
        .tokenInvalid, .tokenUsed, .tokenExpired, .tokenRevoked, .tokenCodeMismatch, .agentCodeTaken,
        .agentCodeMismatch,
        .agentRevoked, .notAnAgent, .enrollmentTokenRequired, .serviceOwned, .invalidIdentifier, .tooManyServices,
    ]

    /// Re-send an unanswered hello this often; after a retryable refusal (a disabled agent), this slowly.
    static let helloRetry: TimeInterval = 5
    static let refusedRetry: TimeInterval = 30
    /// The broker's subscription follows the PUB handshake; wait this long before publishing (slow joiner).
    static let slowJoiner: TimeInterval = 0.2

    private(set) var agentId: String?
    private(set) var welcomed = false
    private(set) var refusal: ErrorBody?
    private(set) var finallyRefused = false
    private var dealerUp = false
    private var lastHelloAt: Date?
    private var retryAfter = helloRetry
    private var publisherOpen = false
    /// When the PUB link is up long enough for the broker's subscription to have arrived.
    private(set) var publishReadyAt: Date?
    private var reportPending = true

    /// Heartbeats may go out: welcomed, and the PUB link up past the slow-joiner wait.
    func canPublish(now: Date) -> Bool {
        agentId != nil && publishReadyAt.map { $0 <= now } == true
    }

    mutating func dealerConnected(now: Date) -> [Action] {
        dealerUp = true
        return hello(now: now)
    }

    mutating func dealerDisconnected() {
        dealerUp = false
        welcomed = false
    }

    mutating func welcome(agentId: String, now: Date) -> [Action] {
        welcomed = true
        refusal = nil
        retryAfter = Self.helloRetry
        self.agentId = agentId
        reportPending = true
        var actions: [Action] = []
        if !publisherOpen {
            publisherOpen = true
            actions.append(.openPublisher)
        }
        return actions + reportIfReady(now: now)
    }

    /// The broker answered the hello with an error.
    mutating func helloRefused(_ error: ErrorBody) -> [Action] {
        let final = Self.finalRefusals.contains(error.code)
        let repeated = refusal?.code == error.code
        refusal = error
        finallyRefused = final
        retryAfter = Self.refusedRetry
        return repeated ? [] : [.reportRefusal(error, final: final)]
    }

    mutating func publisherConnected(now: Date) {
        publishReadyAt = now.addingTimeInterval(Self.slowJoiner)
        reportPending = true
    }

    mutating func publisherDisconnected() {
        publishReadyAt = nil
    }

    /// The manifests changed, or the aggregator asked for a report.
    mutating func reportNeeded(now: Date) -> [Action] {
        reportPending = true
        return reportIfReady(now: now)
    }

    mutating func reportPublished() {
        reportPending = false
    }

    mutating func tick(now: Date) -> [Action] {
        var actions: [Action] = []
        if dealerUp, !welcomed, !finallyRefused, let last = lastHelloAt, now.timeIntervalSince(last) >= retryAfter {
            actions += hello(now: now)
        }
        return actions + reportIfReady(now: now)
    }

    private mutating func hello(now: Date) -> [Action] {
        guard !finallyRefused else { return [] }
        lastHelloAt = now
        return [.sendHello]
    }

    private func reportIfReady(now: Date) -> [Action] {
        reportPending && canPublish(now: now) ? [.publishReport] : []
    }
}
