import CapsuleProtocol

/// What the agent's socket thread hands to its async side.
enum AgentEvent: Sendable {
    case welcome(agentId: String, heartbeatSeconds: Double)
    case dispatch(CommandDispatch)
    case cancel(CommandRef)
    case reportRequested
}
