package import CapsuleDomain
package import Foundation

/// A registration token as stored: only the SHA-256 of the raw token is kept.
package struct TokenRecord: Sendable, Hashable, Codable {
    package var id: String
    package var name: String
    /// The agent code this token may enrol (required to re-enrol an existing code).
    package var agentCode: String?
    package var status: TokenStatus
    package var createdAt: Date
    package var expiresAt: Date
    package var createdBy: String
    package var usedBy: String?
    package var usedAt: Date?

    package init(
        id: String,
        name: String,
        agentCode: String?,
        status: TokenStatus,
        createdAt: Date,
        expiresAt: Date,
        createdBy: String,
        usedBy: String? = nil,
        usedAt: Date? = nil
    ) {
        self.id = id
        self.name = name
        self.agentCode = agentCode
        self.status = status
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.createdBy = createdBy
        self.usedBy = usedBy
        self.usedAt = usedAt
    }
}
