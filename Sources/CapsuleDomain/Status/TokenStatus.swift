/// The status of a registration token.
public enum TokenStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case active = "ACTIVE"
    case used = "USED"
    case revoked = "REVOKED"
    case expired = "EXPIRED"
}
