/// An operator's role, weakest first (docs/security.md, "Roles").
package enum OperatorRole: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case viewer, `operator`, owner

    package static func < (lhs: OperatorRole, rhs: OperatorRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The administrative state of an enrolled key.
package enum KeyState: String, Sendable, Hashable, Codable, CaseIterable {
    case active = "ACTIVE"
    case disabled = "DISABLED"
    case revoked = "REVOKED"
}
