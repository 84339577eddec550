package import CapsuleZMQ

/// Opens the CURVE client sockets every Capsule peer uses to reach the broker.
package enum SocketFactory {
    /// A CURVE client socket connected to `endpoint`, with agent-style reconnect and liveness options.
    package static func client(
        _ type: ZMQSocketType,
        context: ZMQContext,
        endpoint: String,
        keyPair: CurveKeyPair,
        serverKey: CurveKey,
        options: ZMQSocketOptions = .agent()
    ) throws(ZMQError) -> ZMQSocket {
        try monitoredClient(
            type,
            context: context,
            endpoint: endpoint,
            keyPair: keyPair,
            serverKey: serverKey,
            options: options
        ).socket
    }

    /// Like ``client(_:context:endpoint:keyPair:serverKey:options:)``, with a monitor attached before
    /// connecting, so no event (HANDSHAKE_SUCCEEDED above all) can happen before anyone listens.
    package static func monitoredClient(
        _ type: ZMQSocketType,
        context: ZMQContext,
        endpoint: String,
        keyPair: CurveKeyPair,
        serverKey: CurveKey,
        options: ZMQSocketOptions = .agent(),
        monitored: Bool = false
    ) throws(ZMQError) -> (socket: ZMQSocket, monitor: ZMQMonitor?) {
        let socket = try ZMQSocket(context: context, type: type)
        try socket.apply(options)
        try socket.makeCurveClient(keyPair: keyPair, serverKey: serverKey)
        let monitor = monitored ? try ZMQMonitor(context: context, target: socket) : nil
        try socket.connect(endpoint)
        return (socket, monitor)
    }
}
