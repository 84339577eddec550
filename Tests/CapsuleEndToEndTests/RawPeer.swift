import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleTestSupport
import CapsuleZMQ
import Foundation

/// A hand-driven agent speaking protocol v1 directly over real sockets, for hostile-peer tests.
/// Used from one test thread only.
final class RawPeer {
    let context = ZMQContext()
    let keyPair: CurveKeyPair
    let dealer: ZMQSocket
    let dealerMonitor: ZMQMonitor
    var publisher: ZMQSocket?
    var publisherMonitor: ZMQMonitor?
    let info: BrokerInfo
    let serverKey: CurveKey
    var sender: String
    var seq: UInt64 = 0
    var events: [ZMQMonitorEvent.Kind] = []

    init(cluster: Cluster, keyPair: CurveKeyPair? = nil) throws {
        let (info, key) = try BrokerInfo.resolve(home: CapsuleHome(path: cluster.home.path))
        self.info = info
        self.serverKey = key
        self.keyPair = try keyPair ?? CurveKeyPair.generate()
        var options = ZMQSocketOptions()
        options.linger = 0
        options.reconnectInterval = 100
        options.handshakeInterval = 2_000
        dealer = try ZMQSocket(context: context, type: .dealer, lingerMilliseconds: 0)
        dealerMonitor = try ZMQMonitor(context: context, target: dealer)
        try dealer.apply(options)
        try dealer.makeCurveClient(keyPair: self.keyPair, serverKey: key)
        try dealer.connect(info.router)
        sender = "raw"
    }

    deinit {
        publisherMonitor?.socket.close()
        publisher?.close()
        dealerMonitor.socket.close()
        dealer.close()
    }

    func header(_ type: MessageType) -> Header {
        seq += 1
        return Header(type: type, id: UUID().uuidString, sender: sender, ts: MessageFactory.millis(Date()), seq: seq)
    }

    /// Sends a body on the DEALER and waits (bounded) for the next message back.
    func request(_ type: MessageType, _ body: some Encodable, waitSeconds: Double = 5) throws -> WireMessage? {
        try dealer.send(WireCodec.encode(header: header(type), body: body), dontWait: false)
        return try receive(waitSeconds: waitSeconds)
    }

    func receive(waitSeconds: Double) throws -> WireMessage? {
        let deadline = Date().addingTimeInterval(waitSeconds)
        while Date() < deadline {
            var poller = ZMQPoller()
            poller.add(dealer)
            poller.add(dealerMonitor.socket)
            _ = try poller.poll(timeoutMilliseconds: 50)
            while let event = try dealerMonitor.next() { events.append(event.kind) }
            if let message = try dealer.receive() {
                return try WireCodec.decode(message.frames, hasTopic: false)
            }
        }
        return nil
    }

    /// Says hello; returns the agentId on welcome, or the error code.
    func hello(code: String, token: String?, services: [String] = []) throws -> Result<String, ErrorBody> {
        let body = AgentHello(
            agentCode: code,
            services: services,
            manifestDigest: "0",
            software: "raw-peer",
            enrollmentToken: token
        )
        guard let reply = try request(.agentHello, body) else {
            return .failure(ErrorBody(code: "no_reply", message: ""))
        }
        if reply.header.type == .agentWelcome {
            let welcome = try reply.decode(AgentWelcome.self)
            sender = welcome.agentId
            return .success(welcome.agentId)
        }
        return .failure(
            (try? reply.decode(ErrorBody.self)) ?? ErrorBody(code: "unexpected", message: reply.header.type.rawValue)
        )
    }

    /// Opens the PUB link to ingest and waits for its handshake plus the subscription's arrival.
    func openPublisher() throws {
        let socket = try ZMQSocket(context: context, type: .pub, lingerMilliseconds: 0)
        let monitor = try ZMQMonitor(context: context, target: socket)
        var options = ZMQSocketOptions()
        options.reconnectInterval = 100
        try socket.apply(options)
        try socket.makeCurveClient(keyPair: keyPair, serverKey: serverKey)
        try socket.connect(info.ingest)
        publisher = socket
        publisherMonitor = monitor
        _ = try waitForPublisherEvent(.handshakeSucceeded, seconds: 5)
        Thread.sleep(forTimeInterval: 0.3)
    }

    /// Collects publisher monitor events until `kind` shows up (bounded); returns whether it did.
    func waitForPublisherEvent(_ kind: ZMQMonitorEvent.Kind, seconds: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let monitor = publisherMonitor else { return false }
            var poller = ZMQPoller()
            poller.add(monitor.socket)
            _ = try poller.poll(timeoutMilliseconds: 50)
            while let event = try monitor.next() {
                events.append(event.kind)
                if event.kind == kind { return true }
            }
        }
        return false
    }

    func publish(topic: String, _ type: MessageType, _ body: some Encodable) throws {
        _ = try publisher?.send(WireCodec.encode(topic: topic, header: header(type), body: body))
    }

    func heartbeat(agentId: String, code: String, services: [String], health: HealthStatus = .up) throws {
        let samples = services.map { ServiceHealth(code: $0, health: HealthReport(status: health), sampledAt: Date()) }
        try publish(
            topic: Topic.heartbeat(agentId),
            .heartbeat,
            Heartbeat(agentId: agentId, agentCode: code, manifestDigest: "0", intervalSeconds: 1, services: samples)
        )
    }
}
