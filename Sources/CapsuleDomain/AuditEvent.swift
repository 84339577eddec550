import Foundation

/// One event for the audit trail. `(publisher, seq)` identifies it exactly once (design §6).
package struct AuditEvent: Codable, Sendable, Hashable {
    /// Who published it: `broker` or `aggregator`, possibly with an instance suffix.
    package var publisher: String
    /// Per-publisher sequence number, starting at 1, without gaps.
    package var seq: UInt64
    package var at: Date
    /// What happened, such as `service.transition`, `agent.registered`, `command.created`.
    package var action: String
    /// What it happened to: `service:CODE`, `agent:ID`, `command:ID`.
    package var subject: String
    /// Who caused it: `operator:NAME`, `agent:ID`, `system`.
    package var actor: String
    package var result: AuditResult
    package var from: String?
    package var to: String?
    package var reason: String?
    /// Extra context, already redacted.
    package var details: JSONValue?

    package init(
        publisher: String,
        seq: UInt64,
        at: Date,
        action: String,
        subject: String,
        actor: String,
        result: AuditResult = .success,
        from: String? = nil,
        to: String? = nil,
        reason: String? = nil,
        details: JSONValue? = nil
    ) {
        self.publisher = publisher
        self.seq = seq
        self.at = at
        self.action = action
        self.subject = subject
        self.actor = actor
        self.result = result
        self.from = from
        self.to = to
        self.reason = reason
        self.details = Redactor.redact(details)
    }
}
