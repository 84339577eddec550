import CZeroMQ
import CapsuleZMQ
import Foundation
import Synchronization

// Raw libzmq baselines, measured in the same run as Capsule's figures. No Capsule code runs on these
// paths except the thin CapsuleZMQ socket wrapper at the ends (the XSUB/XPUB forwarder is pure C API).
// Each side of a path has its own context (its own I/O thread), as separate processes would.

final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

enum RawBaselines {
    static let anyLoopback = "tcp://127.0.0.1:*"

    /// Makes a socket a CURVE server without any ZAP domain: with no ZAP handler libzmq admits every
    /// client key (zmq-notes, Traps), which is what a raw baseline wants.
    static func makePlainCurveServer(_ socket: ZMQSocket, secretKey: CurveKey) throws {
        try socket.setOption(ZMQ_CURVE_SERVER, Int32(1))
        try socket.setOption(ZMQ_CURVE_SECRETKEY, bytes: secretKey.bytes)
    }

    struct Received: Sendable {
        var count: Int
        var lastAt: Double
    }

    /// Starts a SUB on its own thread and context that counts `expected` messages whose first frame
    /// does not start with "p" (probes start with "p"). `ready` is set on the first probe.
    static func startCounter(
        endpoint: String,
        serverKey: CurveKey,
        expected: Int,
        ready: StopFlag,
        result: Handoff<Received>,
        timeoutSeconds: Double
    ) -> BenchThread {
        BenchThread(name: "raw-sub") {
            let context = ZMQContext()
            let keys = try CurveKeyPair.generate()
            let sub = try ZMQSocket(context: context, type: .sub, lingerMilliseconds: 0)
            defer { sub.close() }
            try sub.setOption(ZMQ_RCVHWM, Int32(0))
            try sub.makeCurveClient(keyPair: keys, serverKey: serverKey)
            try sub.subscribe("")
            try sub.connect(endpoint)
            var poller = ZMQPoller()
            poller.add(sub)
            var received = 0
            var lastAt = 0.0
            var lastActivity = monotonic()
            let deadline = monotonic() + timeoutSeconds
            let probe = UInt8(ascii: "p")
            outer: while received < expected {
                let now = monotonic()
                if now > deadline || (received > 0 && now - lastActivity > 2) { break }
                _ = try poller.poll(timeoutMilliseconds: 100)
                let before = received
                while let message = try sub.receive() {
                    if message.frames.first?.first == probe {
                        ready.set()
                        continue
                    }
                    received += 1
                    if received == expected {
                        lastAt = monotonic()
                        break outer
                    }
                }
                if received > before {
                    lastActivity = monotonic()
                    lastAt = lastActivity
                }
            }
            result.put(Received(count: received, lastAt: lastAt))
            withExtendedLifetime(context) {}
        }
    }

    /// Sends probes until the subscriber has seen one (the subscription has travelled upstream).
    static func sendProbes(_ socket: ZMQSocket, frames: [Data], ready: StopFlag) throws {
        let deadline = monotonic() + 15
        while !ready.isSet {
            guard monotonic() < deadline else {
                throw BenchError("the subscriber never saw a probe (handshake failed?)")
            }
            try socket.send(frames)
            Thread.sleep(forTimeInterval: 0.005)
        }
        Thread.sleep(forTimeInterval: 0.05)  // let in-flight probes drain before timing starts
    }

    /// Baseline A: CURVE PUB → SUB over loopback, one 200-byte frame, HWM 0 on both sides.
    /// Returns messages per second received (time from the first send to the last receipt).
    static func pubSub(messages: Int) throws -> (rate: Double, lost: Int) {
        let server = try CurveKeyPair.generate()
        let context = ZMQContext()
        let pub = try ZMQSocket(context: context, type: .pub, lingerMilliseconds: 0)
        defer { pub.close() }
        try pub.setOption(ZMQ_SNDHWM, Int32(0))
        try makePlainCurveServer(pub, secretKey: server.secretKey)
        try pub.bind(anyLoopback)
        let ready = StopFlag()
        let result = Handoff<Received>()
        let thread = startCounter(
            endpoint: try pub.lastEndpoint(),
            serverKey: server.publicKey,
            expected: messages,
            ready: ready,
            result: result,
            timeoutSeconds: 60
        )
        try sendProbes(pub, frames: [Data("probe".utf8)], ready: ready)
        let frames = [Data(repeating: UInt8(ascii: "M"), count: 200)]
        let start = monotonic()
        for _ in 0..<messages { try pub.send(frames) }
        let received = try result.take(seconds: 70, what: "the raw subscriber")
        try thread.join(seconds: 5)
        withExtendedLifetime(context) {}
        return (Double(received.count) / (received.lastAt - start), messages - received.count)
    }

    /// Baseline B: PUB → XSUB ⇄ XPUB (a zero-copy forwarding loop on its own thread) → SUB, all CURVE,
    /// three frames shaped like a Capsule heartbeat. HWM 0 everywhere.
    static func proxied(messages: Int, frames: [Data]) throws -> (rate: Double, lost: Int) {
        let server = try CurveKeyPair.generate()
        let proxy = try RawProxy(serverSecret: server.secretKey)
        defer { proxy.stop() }
        let ready = StopFlag()
        let result = Handoff<Received>()
        let thread = startCounter(
            endpoint: proxy.xpubEndpoint,
            serverKey: server.publicKey,
            expected: messages,
            ready: ready,
            result: result,
            timeoutSeconds: 60
        )
        let context = ZMQContext()
        let pub = try ZMQSocket(context: context, type: .pub, lingerMilliseconds: 0)
        defer { pub.close() }
        try pub.setOption(ZMQ_SNDHWM, Int32(0))
        try pub.makeCurveClient(keyPair: try CurveKeyPair.generate(), serverKey: server.publicKey)
        try pub.connect(proxy.xsubEndpoint)
        try sendProbes(pub, frames: [Data("probe".utf8)] + frames.dropFirst(), ready: ready)
        let start = monotonic()
        for _ in 0..<messages { try pub.send(frames) }
        let received = try result.take(seconds: 70, what: "the raw subscriber")
        try thread.join(seconds: 5)
        withExtendedLifetime(context) {}
        return (Double(received.count) / (received.lastAt - start), messages - received.count)
    }

    /// DEALER → ROUTER echo round trips over CURVE, one 200-byte frame; returns microseconds per trip.
    static func echo(requests: Int) throws -> [Double] {
        let server = try CurveKeyPair.generate()
        let stop = StopFlag()
        let endpoint = Handoff<String>()
        let echoThread = BenchThread(name: "raw-router") {
            let context = ZMQContext()
            let router = try ZMQSocket(context: context, type: .router, lingerMilliseconds: 0)
            defer { router.close() }
            try makePlainCurveServer(router, secretKey: server.secretKey)
            try router.bind(anyLoopback)
            endpoint.put(try router.lastEndpoint())
            var poller = ZMQPoller()
            poller.add(router)
            while !stop.isSet {
                _ = try poller.poll(timeoutMilliseconds: 50)
                while let message = try router.receive() { try router.send(message.frames) }
            }
            withExtendedLifetime(context) {}
        }
        defer {
            stop.set()
            try? echoThread.join(seconds: 5)
        }
        return try roundTrips(
            endpoint: try endpoint.take(seconds: 10, what: "the raw router"),
            serverKey: server.publicKey,
            requests: requests
        )
    }

    /// DEALER → ROUTER relay → worker DEALER (echo) → relay → DEALER: the two hops of a Capsule request,
    /// with no Capsule code. The worker announces itself with "READY", as a Majordomo worker would.
    static func relay(requests: Int) throws -> [Double] {
        let server = try CurveKeyPair.generate()
        let stop = StopFlag()
        let workerKnown = StopFlag()
        let endpoint = Handoff<String>()
        let relayThread = BenchThread(name: "raw-relay") {
            let context = ZMQContext()
            let router = try ZMQSocket(context: context, type: .router, lingerMilliseconds: 0)
            defer { router.close() }
            try makePlainCurveServer(router, secretKey: server.secretKey)
            try router.bind(anyLoopback)
            endpoint.put(try router.lastEndpoint())
            var poller = ZMQPoller()
            poller.add(router)
            var worker: Data?
            let readyWord = Data("READY".utf8)
            while !stop.isSet {
                _ = try poller.poll(timeoutMilliseconds: 50)
                while let message = try router.receive() {
                    let frames = message.frames
                    guard frames.count >= 2 else { continue }
                    if frames[1] == readyWord {
                        worker = frames[0]
                        workerKnown.set()
                    } else if frames[0] == worker, frames.count == 3 {
                        try router.send([frames[1], frames[2]])  // worker reply → client
                    } else if let worker {
                        try router.send([worker, frames[0], frames[1]])  // client request → worker
                    }
                }
            }
            withExtendedLifetime(context) {}
        }
        let address = try endpoint.take(seconds: 10, what: "the raw relay")
        let workerThread = BenchThread(name: "raw-worker") {
            let context = ZMQContext()
            let dealer = try ZMQSocket(context: context, type: .dealer, lingerMilliseconds: 0)
            defer { dealer.close() }
            try dealer.makeCurveClient(keyPair: try CurveKeyPair.generate(), serverKey: server.publicKey)
            try dealer.connect(address)
            try dealer.send([Data("READY".utf8)], dontWait: false)
            var poller = ZMQPoller()
            poller.add(dealer)
            while !stop.isSet {
                _ = try poller.poll(timeoutMilliseconds: 50)
                while let message = try dealer.receive() { try dealer.send(message.frames) }
            }
            withExtendedLifetime(context) {}
        }
        defer {
            stop.set()
            try? workerThread.join(seconds: 5)
            try? relayThread.join(seconds: 5)
        }
        let deadline = monotonic() + 10
        while !workerKnown.isSet {
            guard monotonic() < deadline else { throw BenchError("the raw relay's worker never announced itself") }
            usleep(1_000)
        }
        return try roundTrips(endpoint: address, serverKey: server.publicKey, requests: requests)
    }

    /// Sequential round trips from a fresh CURVE DEALER; the first 50 (handshake, warm-up) are discarded.
    static func roundTrips(endpoint: String, serverKey: CurveKey, requests: Int) throws -> [Double] {
        let context = ZMQContext()
        let dealer = try ZMQSocket(context: context, type: .dealer, lingerMilliseconds: 0)
        defer { dealer.close() }
        try dealer.makeCurveClient(keyPair: try CurveKeyPair.generate(), serverKey: serverKey)
        try dealer.connect(endpoint)
        let frames = [Data(repeating: UInt8(ascii: "R"), count: 200)]
        var poller = ZMQPoller()
        poller.add(dealer)
        var samples: [Double] = []
        samples.reserveCapacity(requests)
        for index in 0..<(requests + 50) {
            let start = monotonic()
            try dealer.send(frames, dontWait: false)
            var reply: ZMQMessage?
            while reply == nil {
                guard monotonic() - start < 10 else { throw BenchError("no echo within 10 s") }
                reply = try dealer.receive()
                if reply == nil { _ = try poller.poll(timeoutMilliseconds: 100) }
            }
            if index >= 50 { samples.append((monotonic() - start) * 1e6) }
        }
        withExtendedLifetime(context) {}
        return samples
    }
}

/// XSUB ⇄ XPUB forwarding on its own thread with libzmq's C API only (zmq_msg_recv/zmq_msg_send move
/// frames without copying). Both sides are CURVE servers with no ZAP domain. HWM 0.
final class RawProxy: Sendable {
    let xsubEndpoint: String
    let xpubEndpoint: String
    private let stopFlag = StopFlag()
    private let thread: BenchThread

    init(serverSecret: CurveKey) throws {
        let endpoints = Handoff<[String]>()
        let stopFlag = self.stopFlag
        thread = BenchThread(name: "raw-proxy") {
            guard let context = zmq_ctx_new() else {
                endpoints.put([])
                return
            }
            defer { zmq_ctx_term(context) }
            guard let xsub = zmq_socket(context, ZMQ_XSUB), let xpub = zmq_socket(context, ZMQ_XPUB) else {
                endpoints.put([])
                return
            }
            defer {
                zmq_close(xsub)
                zmq_close(xpub)
            }
            var names: [String] = []
            for (socket, hwm) in [(xsub, ZMQ_RCVHWM), (xpub, ZMQ_SNDHWM)] {
                var zero: Int32 = 0
                var one: Int32 = 1
                zmq_setsockopt(socket, hwm, &zero, 4)
                zmq_setsockopt(socket, ZMQ_LINGER, &zero, 4)
                zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, 4)
                _ = serverSecret.bytes.withUnsafeBytes {
                    zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, $0.baseAddress, 32)
                }
                guard zmq_bind(socket, RawBaselines.anyLoopback) == 0 else {
                    endpoints.put([])
                    return
                }
                var buffer = [CChar](repeating: 0, count: 256)
                var size = buffer.count
                zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size)
                names.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            endpoints.put(names)
            var items = [
                zmq_pollitem_t(socket: xsub, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0),
                zmq_pollitem_t(socket: xpub, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0),
            ]
            while !stopFlag.isSet {
                let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, 2, 100) }
                if rc < 0 { break }
                if items[0].revents & Int16(ZMQ_POLLIN) != 0 { RawProxy.forward(from: xsub, to: xpub) }
                if items[1].revents & Int16(ZMQ_POLLIN) != 0 { RawProxy.forward(from: xpub, to: xsub) }
            }
        }
        let names = try endpoints.take(seconds: 10, what: "the raw proxy")
        guard names.count == 2 else { throw BenchError("the raw proxy could not bind") }
        xsubEndpoint = names[0]
        xpubEndpoint = names[1]
    }

    /// Moves up to 1,000 whole messages, frame by frame, without copying.
    private static func forward(from source: UnsafeMutableRawPointer, to target: UnsafeMutableRawPointer) {
        var msg = zmq_msg_t()
        zmq_msg_init(&msg)
        defer { zmq_msg_close(&msg) }
        for _ in 0..<1_000 {
            if zmq_msg_recv(&msg, source, ZMQ_DONTWAIT) < 0 { return }
            while true {
                let more = zmq_msg_more(&msg) != 0
                if zmq_msg_send(&msg, target, more ? ZMQ_SNDMORE : 0) < 0 { return }
                if !more { break }
                if zmq_msg_recv(&msg, source, 0) < 0 { return }
            }
        }
    }

    func stop() {
        stopFlag.set()
        try? thread.join(seconds: 5)
    }
}
