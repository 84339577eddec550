import CZeroMQ
import CapsuleStore
import CapsuleZMQ
import Foundation
import Synchronization
import Testing

@testable import CapsuleBroker

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

    /// The broker's server sockets reach libzmq with their options: no ZMTP heartbeat, and an
    /// accept queue deep enough for a reconnecting fleet.
    @Test func serverOptionsReachTheSocket() throws {
        let context = ZMQContext()
        let socket = try ZMQSocket(context: context, type: .router)
        defer { socket.close() }
        try socket.apply(ZMQSocketOptions.server(maxMessageBytes: 256 * 1024))
        #expect(try socket.getInt32(ZMQ_BACKLOG) == 4_096)
        #expect(try socket.getInt32(ZMQ_HEARTBEAT_IVL) == 0)
        #expect(try socket.getInt32(ZMQ_TCP_KEEPALIVE) == 1)
        #expect(try socket.getInt32(ZMQ_HANDSHAKE_IVL) == 10_000)
    }

    /// Answers every pending ZAP request the way the broker does: the request's frames as the broker
    /// reads them, and the decision from the broker's own ``ZAPHandler/decide(mechanism:domain:publicKey:principal:)``.
    /// Returns the decisions taken, with their domain.
    private func answerZAP(
        _ zap: ZMQSocket,
        principals: [String: Principal]
    ) throws -> [(domain: String, decision: ZAPHandler.Decision)] {
        var decisions: [(domain: String, decision: ZAPHandler.Decision)] = []
        while let request = try zap.receive(maxFrames: 16, maxBytes: 4_096) {
            let frames = request.frames
            let domain = String(decoding: frames[2], as: UTF8.self)
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            let key = frames.count > 6 ? CurveKey(bytes: [UInt8](frames[6]))?.z85 : nil
            let decision = ZAPHandler.decide(
                mechanism: mechanism,
                domain: domain,
                publicKey: key,
                principal: key.flatMap { principals[$0] }
            )
            decisions.append((domain, decision))
            try zap.send([
                Data("1.0".utf8), frames[1], Data(decision.status.utf8), Data(decision.text.utf8),
                Data(decision.userId.utf8), Data(),
            ])
        }
        return decisions
    }

    /// The broker's ZAP decisions on real CURVE handshakes: an unknown key is refused on `ingest`
    /// (it may enrol first) and admitted on `router` (where it may only say hello); an enrolled agent
    /// gets into ingest, with its key as User-Id.
    @Test func theBrokersZAPDecisionsBiteOnRealHandshakes() throws {
        let context = ZMQContext()
        let server = try CurveKeyPair.generate()
        let agent = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let principals = [
            agent.publicKey.z85: Principal(
                publicKey: agent.publicKey.z85,
                kind: .agent,
                identity: "agt_000000000001",
                createdAt: Date(timeIntervalSince1970: 1_700_000_000)
            )
        ]

        let zap = try ZMQSocket(context: context, type: .rep, lingerMilliseconds: 0)
        try zap.bind("inproc://zeromq.zap.01")
        let ingest = try ZMQSocket(context: context, type: .pull, lingerMilliseconds: 0)
        let ingestMonitor = try ZMQMonitor(context: context, target: ingest)
        try ingest.makeCurveServer(secretKey: server.secretKey, zapDomain: "ingest")
        try ingest.bind("tcp://127.0.0.1:*")
        let router = try ZMQSocket(context: context, type: .router, lingerMilliseconds: 0)
        try router.makeCurveServer(secretKey: server.secretKey, zapDomain: "router")
        try router.bind("tcp://127.0.0.1:*")

        let agentPush = try ZMQSocket(context: context, type: .push, lingerMilliseconds: 0)
        try agentPush.makeCurveClient(keyPair: agent, serverKey: server.publicKey)
        try agentPush.connect(try ingest.lastEndpoint())
        let strangerPush = try ZMQSocket(context: context, type: .push, lingerMilliseconds: 0)
        let strangerMonitor = try ZMQMonitor(context: context, target: strangerPush)
        try strangerPush.makeCurveClient(keyPair: stranger, serverKey: server.publicKey)
        try strangerPush.connect(try ingest.lastEndpoint())
        let strangerDealer = try ZMQSocket(context: context, type: .dealer, lingerMilliseconds: 0)
        try strangerDealer.makeCurveClient(keyPair: stranger, serverKey: server.publicKey)
        try strangerDealer.connect(try router.lastEndpoint())
        try agentPush.send([Data("heartbeat".utf8), Data("second frame".utf8)], dontWait: false)
        try strangerPush.send([Data("forged heartbeat".utf8)], dontWait: false)
        try strangerDealer.send([Data("agent.hello".utf8)], dontWait: false)

        var onIngest: [ZMQMessage] = []
        var onRouter: [ZMQMessage] = []
        var strangerEvents: [ZMQMonitorEvent] = []
        var ingestEvents: [ZMQMonitorEvent] = []
        var decisions: [(domain: String, decision: ZAPHandler.Decision)] = []
        for _ in 0..<200
        where onIngest.isEmpty || onRouter.isEmpty || !ingestEvents.contains(where: { $0.kind == .handshakeFailedAuth })
        {
            var poller = ZMQPoller()
            poller.add(zap)
            poller.add(ingest)
            poller.add(router)
            poller.add(ingestMonitor.socket)
            _ = try poller.poll(timeoutMilliseconds: 50)
            decisions += try answerZAP(zap, principals: principals)
            while let message = try ingest.receive() { onIngest.append(message) }
            while let message = try router.receive() { onRouter.append(message) }
            while let event = try ingestMonitor.next() { ingestEvents.append(event) }
            while let event = try strangerMonitor.next() { strangerEvents.append(event) }
        }

        #expect(
            onIngest.map(\.frames) == [[Data("heartbeat".utf8), Data("second frame".utf8)]],
            "only the enrolled agent publishes on ingest"
        )
        #expect(onIngest.first?.userId == agent.publicKey.z85)
        // ZAP 300 is a temporary refusal (the key may be enrolled later): the broker's side reports
        // it, and the client is dropped silently, never completing its handshake.
        let refusal = try #require(ingestEvents.first { $0.kind == .handshakeFailedAuth })
        #expect(refusal.value == 300)
        #expect(!strangerEvents.contains { $0.kind == .handshakeSucceeded })
        #expect(onRouter.last?.frames.last == Data("agent.hello".utf8), "the unknown key reaches the router")
        #expect(onRouter.last?.userId == stranger.publicKey.z85)
        #expect(
            decisions.contains {
                $0.domain == "ingest"
                    && $0.decision == ZAPHandler.Decision(status: "300", text: "key not enrolled", userId: "")
            }
        )
        #expect(
            decisions.contains {
                $0.domain == "router" && $0.decision.status == "200" && $0.decision.userId == stranger.publicKey.z85
            }
        )
        for socket in [
            agentPush, strangerPush, strangerMonitor.socket, strangerDealer, ingestMonitor.socket, ingest, router, zap,
        ] { socket.close() }
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
        #expect(
            headed.oversized && headed.frames == [Data("head".utf8), Data()],
            "the header frame is kept, the large one dropped"
        )
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
