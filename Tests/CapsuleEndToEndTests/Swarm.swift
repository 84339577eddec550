import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleTestSupport
import CapsuleZMQ
import Foundation

/// Many protocol-v1 agents in the test process, driven by one thread: each has its own CURVE key,
/// DEALER and PUB, says hello on every completed handshake of its DEALER (so it is routed again
/// after a broker restart), publishes its report after a welcome and whenever the aggregator asks,
/// and heartbeats every second. A small version of `capsule-bench fleet`, for `make test`.
final class Swarm {
    final class Agent {
        let code: String
        let keyPair: CurveKeyPair
        var token: String?
        let dealer: ZMQSocket
        let dealerMonitor: ZMQMonitor
        let publisher: ZMQSocket
        var agentId: String?
        var seq: UInt64 = 0
        /// DEALER disconnections seen since ``Swarm/resetCounters()``.
        var disconnects = 0
        var welcomes = 0

        init(
            code: String,
            token: String,
            keyPair: CurveKeyPair,
            dealer: ZMQSocket,
            dealerMonitor: ZMQMonitor,
            publisher: ZMQSocket
        ) {
            self.code = code
            self.token = token
            self.keyPair = keyPair
            self.dealer = dealer
            self.dealerMonitor = dealerMonitor
            self.publisher = publisher
        }
    }

    let context = ZMQContext()
    private(set) var agents: [Agent] = []
    let servicesPerAgent: Int
    private var lastBeat = Date.distantPast

    init(cluster: Cluster, tokens: [String], servicesPerAgent: Int) throws {
        self.servicesPerAgent = servicesPerAgent
        let (info, serverKey) = try BrokerInfo.resolve(home: CapsuleHome(path: cluster.home.path))
        for (index, token) in tokens.enumerated() {
            let keyPair = try CurveKeyPair.generate()
            // The agents' own options (jittered reconnect, bounded handshake, no queueing while away).
            var options = ZMQSocketOptions.agent(jitter: Int32.random(in: 200...1_000))
            options.linger = 0
            let dealer = try ZMQSocket(context: context, type: .dealer, lingerMilliseconds: 0)
            let monitor = try ZMQMonitor(
                context: context,
                target: dealer,
                events: ZMQMonitorEvent.mask(.handshakeSucceeded, .disconnected)
            )
            try dealer.apply(options)
            try dealer.makeCurveClient(keyPair: keyPair, serverKey: serverKey)
            try dealer.connect(info.router)
            let publisher = try ZMQSocket(context: context, type: .pub, lingerMilliseconds: 0)
            try publisher.apply(options)
            try publisher.makeCurveClient(keyPair: keyPair, serverKey: serverKey)
            try publisher.connect(info.ingest)
            agents.append(
                Agent(
                    code: "swarm-\(index)",
                    token: token,
                    keyPair: keyPair,
                    dealer: dealer,
                    dealerMonitor: monitor,
                    publisher: publisher
                )
            )
        }
    }

    deinit {
        for agent in agents {
            agent.dealerMonitor.socket.close()
            agent.dealer.close()
            agent.publisher.close()
        }
    }

    func services(of agent: Agent) -> [String] { (0..<servicesPerAgent).map { "\(agent.code)-s\($0)" } }

    var welcomed: Int { agents.filter { $0.agentId != nil }.count }

    func resetCounters() {
        for agent in agents {
            agent.disconnects = 0
            agent.welcomes = 0
        }
    }

    /// Runs the agents for `seconds` (or until `until` holds, checked about every 200 ms).
    func run(seconds: Double, until: (() throws -> Bool)? = nil) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var lastCheck = Date.distantPast
        while Date() < deadline {
            var poller = ZMQPoller()
            for agent in agents {
                poller.add(agent.dealer)
                poller.add(agent.dealerMonitor.socket)
            }
            _ = try poller.poll(timeoutMilliseconds: 50)
            for agent in agents {
                while let event = try agent.dealerMonitor.next() {
                    switch event.kind {
                    case .handshakeSucceeded: try hello(agent)
                    case .disconnected: agent.disconnects += 1
                    default: break
                    }
                }
                while let message = try agent.dealer.receive(maxFrames: 4, maxBytes: 1 << 20) {
                    guard let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else { continue }
                    switch decoded.header.type {
                    case .agentWelcome:
                        let welcome = try decoded.decode(AgentWelcome.self)
                        agent.agentId = welcome.agentId
                        agent.token = nil
                        agent.welcomes += 1
                        try report(agent)
                    case .reportRequest:
                        try report(agent)
                    default:
                        break
                    }
                }
            }
            if Date().timeIntervalSince(lastBeat) >= 1 {
                lastBeat = Date()
                for agent in agents where agent.agentId != nil { try heartbeat(agent) }
            }
            if let until, Date().timeIntervalSince(lastCheck) >= 0.2 {
                lastCheck = Date()
                if try until() { return }
            }
        }
    }

    private func header(_ agent: Agent, _ type: MessageType) -> Header {
        agent.seq += 1
        return Header(
            type: type,
            id: "\(agent.code)-\(agent.seq)",
            sender: agent.agentId ?? agent.code,
            ts: MessageFactory.millis(Date()),
            seq: agent.seq
        )
    }

    private func hello(_ agent: Agent) throws {
        let body = AgentHello(
            agentCode: agent.code,
            services: services(of: agent),
            manifestDigest: digest(agent),
            software: "swarm",
            enrollmentToken: agent.token
        )
        _ = try agent.dealer.send(WireCodec.encode(header: header(agent, .agentHello), body: body), dontWait: true)
    }

    private func manifests(_ agent: Agent) -> [ServiceManifest] {
        services(of: agent).map { ServiceManifest(code: $0, name: $0, version: "1", runtime: "swarm") }
    }

    private func digest(_ agent: Agent) -> String { ManifestDigest.of(manifests(agent)) }

    private func report(_ agent: Agent) throws {
        guard let agentId = agent.agentId else { return }
        let body = ServiceReport(agentId: agentId, agentCode: agent.code, services: manifests(agent))
        _ = try agent.publisher.send(
            WireCodec.encode(topic: Topic.report(agentId), header: header(agent, .serviceReport), body: body)
        )
    }

    private func heartbeat(_ agent: Agent) throws {
        guard let agentId = agent.agentId else { return }
        let samples = services(of: agent).map {
            ServiceHealth(code: $0, health: HealthReport(status: .up), sampledAt: Date())
        }
        let body = Heartbeat(
            agentId: agentId,
            agentCode: agent.code,
            manifestDigest: digest(agent),
            intervalSeconds: 1,
            services: samples
        )
        _ = try agent.publisher.send(
            WireCodec.encode(topic: Topic.heartbeat(agentId), header: header(agent, .heartbeat), body: body)
        )
    }
}
