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
    /// TCP keepalive: on, idle seconds before probes, seconds between probes, probes before giving up.
    package var tcpKeepalive: Bool?
    package var tcpKeepaliveIdle: Int32?
    package var tcpKeepaliveInterval: Int32?
    package var tcpKeepaliveCount: Int32?
    /// Connections the kernel may queue for a bound socket before libzmq accepts them (`ZMQ_BACKLOG`).
    package var backlog: Int32?

    package init() {}

    /// Options for an agent's outbound sockets: jittered reconnect with back-off, a bounded handshake,
    /// ZMTP heartbeats and no queueing while disconnected (see docs/protocol.md).
    ///
    /// The agent sends ZMTP PINGs (every 10 s; the link counts as dead after 30 s without traffic),
    /// which keeps idle NAT mappings alive and lets the agent notice a dead broker. It sets no
    /// `ZMQ_HEARTBEAT_TTL`: a PING carrying a TTL makes the broker arm a timer per connection that
    /// libzmq 4.3 cancels with a linear scan on every message, which costs the broker O(N) per
    /// message (docs/decisions.md, "ZMTP heartbeats: the agents ping, the broker does not").
    package static func agent(jitter: Int32 = Int32.random(in: 1000...5000)) -> ZMQSocketOptions {
        var options = ZMQSocketOptions()
        options.reconnectInterval = jitter
        options.reconnectIntervalMax = 30_000
        options.handshakeInterval = 5_000
        options.heartbeatInterval = 10_000
        options.heartbeatTimeout = 30_000
        options.immediate = true
        options.linger = 200
        options.sendHighWaterMark = 1_000
        options.tcpKeepalive = true
        options.tcpKeepaliveIdle = 60
        options.tcpKeepaliveInterval = 10
        options.tcpKeepaliveCount = 3
        return options
    }

    /// Options for an internal service's links to the broker (the aggregator's and the audit writer's
    /// SUB, PUB and DEALER): quick reconnects (0.5 s, at most 5 s), messages queued while the link is
    /// down (an internal link must not lose a journalled event to a reconnect), and deep queues.
    package static func internalLink(
        sendHighWaterMark: Int32 = 100_000,
        receiveHighWaterMark: Int32 = 200_000
    ) -> ZMQSocketOptions {
        var options = agent(jitter: 500)
        options.immediate = false
        options.reconnectIntervalMax = 5_000
        options.sendHighWaterMark = sendHighWaterMark
        options.receiveHighWaterMark = receiveHighWaterMark
        return options
    }

    /// Options for the broker's server sockets: no ZMTP heartbeats of its own (no timer per
    /// connection), TCP keepalive to reap connections whose peer vanished, a bounded linger, frames
    /// capped a little above the message cap (libzmq drops a peer that sends more), and an accept
    /// queue deep enough for a whole fleet reconnecting at once (libzmq's default of 100 drops SYNs
    /// in a storm, and each dropped SYN costs its agent a kernel retry 1, 3, 7 … s later; the kernel
    /// caps the value at `net.core.somaxconn`, see docs/decisions.md, "A deep accept queue").
    package static func server(maxMessageBytes: Int) -> ZMQSocketOptions {
        var options = ZMQSocketOptions()
        options.backlog = 4_096
        options.maxMessageSize = Int64(maxMessageBytes + 8 * 1024)
        options.linger = 200
        options.handshakeInterval = 10_000
        options.tcpKeepalive = true
        options.tcpKeepaliveIdle = 60
        options.tcpKeepaliveInterval = 10
        options.tcpKeepaliveCount = 3
        return options
    }
}
