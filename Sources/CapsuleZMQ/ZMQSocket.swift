import CZeroMQ
package import Foundation

/// A libzmq socket. Not thread-safe and deliberately not `Sendable`: it lives on the thread that made it.
package final class ZMQSocket {
    private(set) var handle: UnsafeMutableRawPointer?
    package let type: ZMQSocketType

    /// Opens a socket with a bounded linger, so closing never blocks context termination for long.
    package init(context: ZMQContext, type: ZMQSocketType, lingerMilliseconds: Int32 = 200) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError.last("zmq_socket")
        }
        self.handle = handle
        self.type = type
        try setOption(ZMQ_LINGER, lingerMilliseconds)
    }

    deinit { close() }

    /// Closes the socket. Safe to call twice.
    package func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    private func live(_ operation: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(code: ENOTSOCK, operation: operation) }
        return handle
    }

    package func bind(_ endpoint: String) throws(ZMQError) {
        if zmq_bind(try live("bind"), endpoint) != 0 { throw ZMQError.last("bind \(endpoint)") }
    }

    package func connect(_ endpoint: String) throws(ZMQError) {
        if zmq_connect(try live("connect"), endpoint) != 0 { throw ZMQError.last("connect \(endpoint)") }
    }

    package func disconnect(_ endpoint: String) throws(ZMQError) {
        if zmq_disconnect(try live("disconnect"), endpoint) != 0 { throw ZMQError.last("disconnect \(endpoint)") }
    }

    /// The endpoint actually bound, useful after binding to port 0 (`tcp://127.0.0.1:*`).
    package func lastEndpoint() throws(ZMQError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        if zmq_getsockopt(try live("getsockopt"), ZMQ_LAST_ENDPOINT, &buffer, &size) != 0 {
            throw ZMQError.last("getsockopt ZMQ_LAST_ENDPOINT")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Options

    package func setOption(_ option: Int32, _ value: Int32) throws(ZMQError) {
        var value = value
        if zmq_setsockopt(try live("setsockopt"), option, &value, MemoryLayout<Int32>.size) != 0 {
            throw ZMQError.last("setsockopt \(option)")
        }
    }

    package func setOption(_ option: Int32, _ value: Int64) throws(ZMQError) {
        var value = value
        if zmq_setsockopt(try live("setsockopt"), option, &value, MemoryLayout<Int64>.size) != 0 {
            throw ZMQError.last("setsockopt \(option)")
        }
    }

    package func setOption(_ option: Int32, bytes: [UInt8]) throws(ZMQError) {
        let handle = try live("setsockopt")
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        if rc != 0 { throw ZMQError.last("setsockopt \(option)") }
    }

    package func setOption(_ option: Int32, string: String) throws(ZMQError) {
        try setOption(option, bytes: Array(string.utf8))
    }

    package func getInt32(_ option: Int32) throws(ZMQError) -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(try live("getsockopt"), option, &value, &size) != 0 {
            throw ZMQError.last("getsockopt \(option)")
        }
        return value
    }

    /// Applies a group of options in one call.
    package func apply(_ options: ZMQSocketOptions) throws(ZMQError) {
        if let v = options.sendHighWaterMark { try setOption(ZMQ_SNDHWM, v) }
        if let v = options.receiveHighWaterMark { try setOption(ZMQ_RCVHWM, v) }
        if let v = options.linger { try setOption(ZMQ_LINGER, v) }
        if let v = options.reconnectInterval { try setOption(ZMQ_RECONNECT_IVL, v) }
        if let v = options.reconnectIntervalMax { try setOption(ZMQ_RECONNECT_IVL_MAX, v) }
        if let v = options.handshakeInterval { try setOption(ZMQ_HANDSHAKE_IVL, v) }
        if let v = options.heartbeatInterval { try setOption(ZMQ_HEARTBEAT_IVL, v) }
        if let v = options.heartbeatTimeout { try setOption(ZMQ_HEARTBEAT_TIMEOUT, v) }
        if let v = options.heartbeatTTL { try setOption(ZMQ_HEARTBEAT_TTL, v) }
        if let v = options.immediate { try setOption(ZMQ_IMMEDIATE, Int32(v ? 1 : 0)) }
        if let v = options.maxMessageSize { try setOption(ZMQ_MAXMSGSIZE, v) }
        if let v = options.routerMandatory { try setOption(ZMQ_ROUTER_MANDATORY, Int32(v ? 1 : 0)) }
        if let v = options.routerHandover { try setOption(ZMQ_ROUTER_HANDOVER, Int32(v ? 1 : 0)) }
        if let v = options.tcpKeepalive { try setOption(ZMQ_TCP_KEEPALIVE, Int32(v ? 1 : 0)) }
        if let v = options.tcpKeepaliveIdle { try setOption(ZMQ_TCP_KEEPALIVE_IDLE, v) }
        if let v = options.tcpKeepaliveInterval { try setOption(ZMQ_TCP_KEEPALIVE_INTVL, v) }
        if let v = options.tcpKeepaliveCount { try setOption(ZMQ_TCP_KEEPALIVE_CNT, v) }
        if let v = options.backlog { try setOption(ZMQ_BACKLOG, v) }
    }

    // MARK: CURVE

    /// Makes this socket a CURVE server with the given secret key. ZAP must answer for every client.
    package func makeCurveServer(secretKey: CurveKey, zapDomain: String) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVER, Int32(1))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: secretKey.bytes)
        try setOption(ZMQ_ZAP_DOMAIN, string: zapDomain)
        // Fail closed when no ZAP handler answers (see docs/security.md and zmq-notes).
        try setOption(ZMQ_ZAP_ENFORCE_DOMAIN, Int32(1))
    }

    /// Makes this socket a CURVE client that trusts `serverKey`.
    package func makeCurveClient(keyPair: CurveKeyPair, serverKey: CurveKey) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: serverKey.bytes)
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: keyPair.publicKey.bytes)
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: keyPair.secretKey.bytes)
    }

    // MARK: Subscriptions

    package func subscribe(_ prefix: String) throws(ZMQError) {
        try setOption(ZMQ_SUBSCRIBE, string: prefix)
    }

    // MARK: Sending and receiving

    /// Sends every frame of `frames` as one multipart message.
    /// Returns `false` when `dontWait` is set and the message could not be queued (EAGAIN).
    @discardableResult
    package func send(_ frames: [Data], dontWait: Bool = true) throws(ZMQError) -> Bool {
        let handle = try live("send")
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
            if index < frames.count - 1 { flags |= ZMQ_SNDMORE }
            let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            if rc < 0 {
                let error = ZMQError.last("send")
                if error.isAgain && index == 0 { return false }
                throw error
            }
        }
        return true
    }

    /// Receives up to `budget` waiting messages and hands each to `body`, so one busy socket cannot
    /// keep a loop from its other sockets. Returns how many it took.
    @discardableResult
    package func drain(budget: Int, maxFrames: Int = 4, maxBytes: Int, _ body: (ZMQMessage) -> Void) -> Int {
        var taken = 0
        while taken < budget, let message = try? receive(maxFrames: maxFrames, maxBytes: maxBytes) {
            taken += 1
            body(message)
        }
        return taken
    }

    /// Frames up to this size survive in an oversized message.
    package static let keptFrameBytes = 4_352

    /// Receives one multipart message without blocking; returns nil when none is waiting.
    ///
    /// A message with more than `maxFrames` frames or more than `maxBytes` bytes in total is drained
    /// and returned with `oversized` set; only its small frames (at most ``keptFrameBytes``) keep
    /// their data, so the caller can count it, drop it, and still answer its header.
    package func receive(maxFrames: Int = 16, maxBytes: Int = 1 << 20) throws(ZMQError) -> ZMQMessage? {
        let handle = try live("receive")
        var frames: [Data] = []
        var total = 0
        var oversized = false
        var userId: String?
        var sourceFD: Int32 = -1
        var first = true
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            let rc = zmq_msg_recv(&msg, handle, first ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                let error = ZMQError.last("receive")
                if error.isAgain && first { return nil }
                throw error
            }
            // A ROUTER's routing-id frame carries no metadata; read it from the first frame that has it.
            if userId == nil, let property = zmq_msg_gets(&msg, "User-Id") { userId = String(cString: property) }
            if sourceFD < 0 { sourceFD = zmq_msg_get(&msg, ZMQ_SRCFD) }
            first = false
            let size = zmq_msg_size(&msg)
            total += size
            if frames.count >= maxFrames || total > maxBytes { oversized = true }
            // Small frames are kept even in an oversized message (a routing id, a header), so the
            // receiver can still answer it with an error; large ones are dropped unread.
            if frames.count < maxFrames + 1, size <= Self.keptFrameBytes || !oversized, let data = zmq_msg_data(&msg) {
                frames.append(Data(bytes: data, count: size))
            } else if frames.count < maxFrames + 1 {
                frames.append(Data())
            }
            if zmq_msg_more(&msg) == 0 { break }
        }
        if oversized { frames = frames.map { $0.count <= Self.keptFrameBytes ? $0 : Data() } }
        return ZMQMessage(frames: frames, userId: userId, sourceFD: sourceFD, oversized: oversized, byteCount: total)
    }
}
