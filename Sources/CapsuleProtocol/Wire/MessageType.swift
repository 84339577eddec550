/// Every message type of wire protocol v1 (docs/protocol.md).
package enum MessageType: String, Codable, Sendable, Hashable, CaseIterable {
    // Agent → broker ingest (PUB), forwarded to the bus.
    case heartbeat
    case health
    case serviceReport = "service.report"
    // Publishers of audit events (broker, aggregator) → bus.
    case event
    case beacon
    // DEALER ↔ ROUTER.
    case agentHello = "agent.hello"
    case agentWelcome = "agent.welcome"
    case commandDispatch = "command.dispatch"
    case commandAck = "command.ack"
    case commandResult = "command.result"
    case commandCancel = "command.cancel"
    case reportRequest = "report.request"
    case workerReady = "worker.ready"
    case request
    case reply
    case error
}
