/// Caps every peer is held to (design §5, "Bounded by construction"), beside the frame caps of ``WireCodec``.
package enum Limits {
    /// Services one agent may declare. A report with more is refused whole; heartbeat samples beyond
    /// an agent's declared services are ignored.
    package static let maxServicesPerAgent = 1_000
    /// Actions one service may declare.
    package static let maxActionsPerService = 64
}
