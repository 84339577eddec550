/// Whether an audited action succeeded.
public enum AuditResult: String, Codable, Sendable, Hashable, CaseIterable {
    case success = "SUCCESS"
    case failure = "FAILURE"
}
