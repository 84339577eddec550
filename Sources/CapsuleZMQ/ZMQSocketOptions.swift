/// Socket options Capsule sets, grouped so a role (agent, broker, bus) can carry one value.
/// Times are in milliseconds, as libzmq takes them.
package struct ZMQSocketOptions: Sendable, Hashable {
    package var sendHighWaterMark: Int32?
    package var receiveHighWaterMark: Int32?
    package var linger: Int32?
    package var reconnectInterval: Int32?
    package var reconnectIntervalMax: Int32?
    package var handshakeInterval: Int32?
    package var heartbeatInterval: Int32?
    package var heartbeatTimeout: Int32?
    package var heartbeatTTL: Int32?
    package var immediate: Bool?
    package var maxMessageSize: Int64?
    package var routerMandatory: Bool?
    package var routerHandover: Bool?

    package init() {}

    /// Options for an agent's outbound sockets: jittered reconnect with back-off, a bounded handshake,
    /// ZMTP heartbeats and no queueing while disconnected (see docs/protocol.md).
    package static func agent(jitter: Int32 = Int32.random(in: 1000...5000)) -> ZMQSocketOptions {
        var options = ZMQSocketOptions()
        options.reconnectInterval = jitter
        options.reconnectIntervalMax = 30_000
        options.handshakeInterval = 5_000
        options.heartbeatInterval = 2_000
        options.heartbeatTimeout = 6_000
        options.heartbeatTTL = 6_000
        options.immediate = true
        options.linger = 200
        options.sendHighWaterMark = 1_000
        return options
    }
}
