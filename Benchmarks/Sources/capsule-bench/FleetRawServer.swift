import CZeroMQ
import CapsuleZMQ
import Foundation

// `capsule-bench fleet-raw-server`: the raw baseline of the fleet figures (Benchmarks/README.md, "Fleet").
//
// Plain libzmq through its C API, no Capsule code: a CURVE ROUTER and a CURVE XSUB with the broker's
// server socket options (the values of `ZMQSocketOptions.server`, set here with zmq_setsockopt:
// ZMQ_MAXMSGSIZE, no ZMTP heartbeat, handshake 10 s, TCP keepalive 60/10/3, ZMQ_BACKLOG, linger 200;
// XSUB RCVHWM 100,000, ROUTER_MANDATORY, ZAP domain enforced), and a ZAP handler on its own REP socket that admits
// every CURVE key with status 200 (the broker's handler also looks the key up; this one does not).
// The XSUB subscribes to everything and drops what it receives; the ROUTER answers every message
// with one small two-frame reply to the same routing id (the raw agents take it as their welcome).
// One I/O thread, as the broker's context has by default (`--io-threads N` for both). One stats line a second on stdout; stdin closing ends it.
enum FleetRawServer {
    static func main(_ arguments: [String]) throws {
        var routerBind = "tcp://127.0.0.1:0"
        var ingestBind = "tcp://127.0.0.1:0"
        var secret: CurveKey?
        var countDistinct = false
        var ioThreads: Int32 = 1
        var maxSeconds = 3_600.0
        var i = 0
        while i < arguments.count {
            let next = i + 1 < arguments.count ? arguments[i + 1] : ""
            switch arguments[i] {
            case "--router-bind":
                routerBind = next
                i += 1
            case "--ingest-bind":
                ingestBind = next
                i += 1
            case "--secret":
                secret = CurveKey(z85: next)
                i += 1
            case "--count-distinct": countDistinct = true
            case "--io-threads":
                ioThreads = Int32(next) ?? ioThreads
                i += 1
            case "--max-seconds":
                maxSeconds = Double(next) ?? maxSeconds
                i += 1
            default: throw BenchError("fleet-raw-server: unknown argument \(arguments[i])")
            }
            i += 1
        }
        guard let secret else { throw BenchError("fleet-raw-server needs --secret Z85") }
        signal(SIGPIPE, SIG_IGN)

        guard let context = zmq_ctx_new() else { throw BenchError("zmq_ctx_new failed") }
        zmq_ctx_set(context, ZMQ_IO_THREADS, ioThreads)
        zmq_ctx_set(context, ZMQ_MAX_SOCKETS, 65_535)
        guard let zap = zmq_socket(context, ZMQ_REP), zmq_bind(zap, "inproc://zeromq.zap.01") == 0 else {
            throw BenchError("raw server: cannot bind the ZAP handler")
        }
        func setInt(_ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: Int32) {
            var v = value
            zmq_setsockopt(socket, option, &v, 4)
        }
        func server(_ type: Int32, _ endpoint: String, domain: String) throws -> UnsafeMutableRawPointer {
            guard let socket = zmq_socket(context, type) else { throw BenchError("zmq_socket failed") }
            // The broker's own server options, value by value (the broker sets no ZMTP heartbeat).
            let options = ZMQSocketOptions.server(maxMessageBytes: 256 * 1024)
            var maxSize = options.maxMessageSize ?? -1
            zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &maxSize, 8)
            for (option, value) in [
                (ZMQ_LINGER, options.linger), (ZMQ_HANDSHAKE_IVL, options.handshakeInterval),
                (ZMQ_HEARTBEAT_IVL, options.heartbeatInterval), (ZMQ_HEARTBEAT_TIMEOUT, options.heartbeatTimeout),
                (ZMQ_TCP_KEEPALIVE, options.tcpKeepalive.map { $0 ? 1 : 0 }),
                (ZMQ_TCP_KEEPALIVE_IDLE, options.tcpKeepaliveIdle),
                (ZMQ_TCP_KEEPALIVE_INTVL, options.tcpKeepaliveInterval),
                (ZMQ_TCP_KEEPALIVE_CNT, options.tcpKeepaliveCount), (ZMQ_BACKLOG, options.backlog),
            ] {
                if let value { setInt(socket, option, value) }
            }
            setInt(socket, ZMQ_CURVE_SERVER, 1)
            _ = secret.bytes.withUnsafeBytes { zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, $0.baseAddress, 32) }
            _ = Array(domain.utf8).withUnsafeBytes { zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, $0.baseAddress, $0.count) }
            setInt(socket, ZMQ_ZAP_ENFORCE_DOMAIN, 1)
            if type == ZMQ_XSUB { setInt(socket, ZMQ_RCVHWM, 100_000) }
            if type == ZMQ_ROUTER { setInt(socket, ZMQ_ROUTER_MANDATORY, 1) }
            guard zmq_bind(socket, endpoint) == 0 else {
                throw BenchError("raw server: bind \(endpoint): \(String(cString: zmq_strerror(zmq_errno())))")
            }
            return socket
        }
        let xsub = try server(ZMQ_XSUB, ingestBind, domain: "ingest")
        let router = try server(ZMQ_ROUTER, routerBind, domain: "router")
        var subscribeAll: UInt8 = 1
        zmq_send(xsub, &subscribeAll, 1, 0)

        let stopping = StopFlag()
        Thread {
            while readLine() != nil {}
            stopping.set()
        }.start()

        var ingestMessages = 0
        var routerMessages = 0
        var zapRequests = 0
        var senders = Set<Data>()
        var items = [
            zmq_pollitem_t(socket: zap, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0),
            zmq_pollitem_t(socket: xsub, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0),
            zmq_pollitem_t(socket: router, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0),
        ]
        let reply = Array("{\"v\":1,\"type\":\"reply\"}".utf8)
        let body = Array("{}".utf8)
        var lastStats = 0.0
        let deadline = monotonic() + maxSeconds
        var msg = zmq_msg_t()
        zmq_msg_init(&msg)
        while !stopping.isSet && monotonic() < deadline {
            let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, 3, 100) }
            if rc < 0 && zmq_errno() != EINTR { break }
            if items[0].revents & Int16(ZMQ_POLLIN) != 0 {
                // ZAP: [version, request id, domain, address, identity, mechanism, credentials...] → 200.
                for _ in 0..<1_000 {
                    var frames: [[UInt8]] = []
                    guard zmq_msg_recv(&msg, zap, ZMQ_DONTWAIT) >= 0 else { break }
                    while true {
                        frames.append(
                            Array(UnsafeRawBufferPointer(start: zmq_msg_data(&msg), count: zmq_msg_size(&msg)))
                        )
                        if zmq_msg_more(&msg) == 0 { break }
                        if zmq_msg_recv(&msg, zap, 0) < 0 { break }
                    }
                    zapRequests += 1
                    let requestId = frames.count > 1 ? frames[1] : []
                    let userId = Array("raw".utf8)
                    for (index, frame) in [
                        Array("1.0".utf8), requestId, Array("200".utf8), Array("OK".utf8), userId, [],
                    ].enumerated() {
                        _ = frame.withUnsafeBytes {
                            zmq_send(zap, $0.baseAddress, $0.count, index < 5 ? ZMQ_SNDMORE : 0)
                        }
                    }
                }
            }
            if items[1].revents & Int16(ZMQ_POLLIN) != 0 {
                for _ in 0..<1_000 {
                    guard zmq_msg_recv(&msg, xsub, ZMQ_DONTWAIT) >= 0 else { break }
                    ingestMessages += 1
                    if countDistinct, zmq_msg_size(&msg) > 3,
                        zmq_msg_data(&msg).load(as: UInt8.self) == UInt8(ascii: "h")
                    {
                        senders.insert(Data(bytes: zmq_msg_data(&msg), count: zmq_msg_size(&msg)))
                    }
                    while zmq_msg_more(&msg) != 0 {
                        if zmq_msg_recv(&msg, xsub, 0) < 0 { break }
                    }
                }
            }
            if items[2].revents & Int16(ZMQ_POLLIN) != 0 {
                for _ in 0..<1_000 {
                    guard zmq_msg_recv(&msg, router, ZMQ_DONTWAIT) >= 0 else { break }
                    routerMessages += 1
                    // Frame 1 is the routing id: send it straight back, then the reply.
                    var route = zmq_msg_t()
                    zmq_msg_init(&route)
                    zmq_msg_copy(&route, &msg)
                    while zmq_msg_more(&msg) != 0 {
                        if zmq_msg_recv(&msg, router, 0) < 0 { break }
                    }
                    if zmq_msg_send(&route, router, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 {
                        _ = reply.withUnsafeBytes { zmq_send(router, $0.baseAddress, $0.count, ZMQ_SNDMORE) }
                        _ = body.withUnsafeBytes { zmq_send(router, $0.baseAddress, $0.count, 0) }
                    }
                    zmq_msg_close(&route)
                }
            }
            let t = monotonic()
            if t - lastStats >= 1 {
                lastStats = t
                let line =
                    "{\"ingest\":\(ingestMessages),\"router\":\(routerMessages),\"zap\":\(zapRequests),\"distinct\":\(senders.count)}\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        }
        zmq_msg_close(&msg)
        for socket in [zap, xsub, router] {
            setInt(socket, ZMQ_LINGER, 0)
            zmq_close(socket)
        }
        exit(0)
    }
}
