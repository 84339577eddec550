import CapsuleStore

/// Which role each broker-routed operation needs (docs/security.md, "Roles").
enum BrokerPolicy {
    static func requiredRole(service: String, op: String) -> Principal.Role {
        switch (service, op) {
        case ("broker", "command.create"), ("broker", "command.cancel"), ("audit", "audit.backup"):
            return .operator
        case ("broker", "token.create"), ("broker", "token.revoke"), ("broker", "agent.disable"),
            ("broker", "agent.enable"), ("broker", "agent.revoke"):
            return .operator
        case ("broker", "operator.add"), ("broker", "operator.remove"):
            return .owner
        default:
            return .viewer
        }
    }
}
