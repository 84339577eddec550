import CZeroMQ
import CapsuleZMQ
import Foundation
import Synchronization
import Testing

/// The socket layer against real libzmq on loopback: CURVE, ZAP, metadata, caps, monitor events.
struct CurveAndZAPTests {
    @Test func z85KeysRoundTrip() throws {
        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey.z85.count == 40)
        #expect(CurveKey(z85: pair.publicKey.z85) == pair.publicKey)
        #expect(try CurveKeyPair.from(secretKey: pair.secretKey) == pair)
        #expect(CurveKey(z85: "too short") == nil)
        #expect(ZMQContext.hasCurve)
    }

    /// A tiny ZAP handler that admits exactly one client key and names it in User-Id.
    private func answerZAP(_ zap: ZMQSocket, allowing allowed: CurveKey) throws {
        while let request = try zap.receive() {
            let frames = request.frames
            let key = frames.count > 6 ? CurveKey(bytes: [UInt8](frames[6])) : nil
            let ok = key == allowed
            try zap.send([Data("1.0".utf8), frames[1], Data((ok ? "200" : "400").utf8), Data((ok ? "OK" : "denied").utf8),
                          Data((ok ? key!.z85 : "").utf8), Data()])
        }
    }

    @Test func zapAdmitsAKnownKeyAndRefusesAnUnknownOne() throws {
        let context = ZMQContext()
        let server = try CurveKeyPair.generate()
        let good = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()

        let zap = try ZMQSocket(context: context, type: .rep, lingerMilliseconds: 0)
        try zap.bind("inproc://zeromq.zap.01")
        let pull = try ZMQSocket(context: context, type: .pull, lingerMilliseconds: 0)
        try pull.makeCurveServer(secretKey: server.secretKey, zapDomain: "test")
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = try pull.lastEndpoint()

        let goodPush = try ZMQSocket(context: context, type: .push, lingerMilliseconds: 0)
        try goodPush.makeCurveClient(keyPair: good, serverKey: server.publicKey)
        try goodPush.connect(endpoint)
        let badPush = try ZMQSocket(context: context, type: .push, lingerMilliseconds: 0)
        let badMonitor = try ZMQMonitor(context: context, target: badPush)
        try badPush.makeCurveClient(keyPair: stranger, serverKey: server.publicKey)
        try badPush.connect(endpoint)
        try goodPush.send([Data("from good".utf8), Data("second frame".utf8)], dontWait: false)
        try badPush.send([Data("from stranger".utf8)], dontWait: false)

        var received: [ZMQMessage] = []
        var badEvents: [ZMQMonitorEvent.Kind] = []
        for _ in 0..<100 where received.isEmpty || !badEvents.contains(.handshakeFailedAuth) {
            var poller = ZMQPoller()
            poller.add(zap)
            poller.add(pull)
            poller.add(badMonitor.socket)
            _ = try poller.poll(timeoutMilliseconds: 50)
            try answerZAP(zap, allowing: good.publicKey)
            while let message = try pull.receive() { received.append(message) }
            while let event = try badMonitor.next() { badEvents.append(event.kind) }
        }
        #expect(received.count == 1)
        #expect(received.first?.frames == [Data("from good".utf8), Data("second frame".utf8)])
        #expect(received.first?.userId == good.publicKey.z85)
        #expect(badEvents.contains(.handshakeFailedAuth))
        for socket in [goodPush, badPush, badMonitor.socket, pull, zap] { socket.close() }
    }

    @Test func curveServerWithoutZAPHandlerFailsClosed() throws {
        // zmq-notes: with ZAP_ENFORCE_DOMAIN (93) set, no ZAP handler means nobody gets in.
        let context = ZMQContext()
        let server = try CurveKeyPair.generate()
        let pull = try ZMQSocket(context: context, type: .pull, lingerMilliseconds: 0)
        try pull.makeCurveServer(secretKey: server.secretKey, zapDomain: "test")
        try pull.bind("tcp://127.0.0.1:*")
        let push = try ZMQSocket(context: context, type: .push, lingerMilliseconds: 0)
        try push.makeCurveClient(keyPair: try CurveKeyPair.generate(), serverKey: server.publicKey)
        try push.connect(try pull.lastEndpoint())
        _ = try push.send([Data("hello".utf8)])
        var got = 0
        for _ in 0..<20 {
            var poller = ZMQPoller()
            poller.add(pull)
            _ = try poller.poll(timeoutMilliseconds: 25)
            while try pull.receive() != nil { got += 1 }
        }
        #expect(got == 0)
        push.close()
        pull.close()
    }

    @Test func oversizedMessagesAreDrainedNotDelivered() throws {
        let context = ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull, lingerMilliseconds: 0)
        try pull.bind("inproc://oversize")
        let push = try ZMQSocket(context: context, type: .push, lingerMilliseconds: 0)
        try push.connect("inproc://oversize")
        try push.send([Data(count: 2_000)], dontWait: false)
        try push.send([Data("head".utf8), Data(count: ZMQSocket.keptFrameBytes + 1)], dontWait: false)
        try push.send((0..<10).map { _ in Data("x".utf8) }, dontWait: false)
        try push.send([Data("ok".utf8)], dontWait: false)
        let big = try #require(try pull.receive(maxFrames: 4, maxBytes: 1_000))
        #expect(big.oversized && big.byteCount == 2_000)
        // Small frames survive (so a receiver can still read a header); this one is not small.
        #expect(big.frames.allSatisfy { $0.count <= ZMQSocket.keptFrameBytes })
        let headed = try #require(try pull.receive(maxFrames: 4, maxBytes: 1_000))
        #expect(headed.oversized && headed.frames == [Data("head".utf8), Data()], "the header frame is kept, the large one dropped")
        let many = try #require(try pull.receive(maxFrames: 4, maxBytes: 1_000))
        #expect(many.oversized)
        let fine = try #require(try pull.receive(maxFrames: 4, maxBytes: 1_000))
        #expect(!fine.oversized && fine.frames == [Data("ok".utf8)])
        #expect(try pull.receive() == nil)
    }

    @Test func errorsCarryErrnoAndAMessage() throws {
        let context = ZMQContext()
        let socket = try ZMQSocket(context: context, type: .pull, lingerMilliseconds: 0)
        #expect(throws: ZMQError.self) { try socket.bind("nonsense://endpoint") }
        do {
            try socket.bind("nonsense://endpoint")
        } catch {
            #expect(error.code != 0)
            #expect(!error.message.isEmpty)
            #expect(error.description.contains("bind nonsense://endpoint"))
        }
    }
}
