import CapsuleZMQ

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
        let socket = try ZMQSocket(context: context, type: type)
        try socket.apply(options)
        try socket.makeCurveClient(keyPair: keyPair, serverKey: serverKey)
        try socket.connect(endpoint)
        return socket
    }
}
