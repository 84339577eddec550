import CapsuleProtocol

/// What the broker knows about an agent when it decides what to do with its commands.
struct AgentView: Sendable, Hashable {
    /// The agent key's administrative state.
    var state: KeyState
    /// Connected to the router with a route learned from an authenticated message.
    var routable: Bool
    /// `ONLINE`, `STALE`, `OFFLINE` or `PENDING`, from the heartbeats the broker forwarded.
    var presence: String

    static let unknown = AgentView(state: .active, routable: false, presence: "PENDING")
}
