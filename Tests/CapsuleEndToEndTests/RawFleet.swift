import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleTestSupport
import CapsuleZMQ
import Foundation
import Synchronization

/// Many protocol-v1 agents on one thread of their own, for the long form of the failover test
/// (`scripts/failover-tests.sh`, CAPSULE_FAILOVER_AGENTS). Each agent has a DEALER to one broker of
/// the pair and a PUB to both ingests; it heartbeats every second, says hello every 2 s and moves
/// to the other broker after a `standby` refusal or when a hello goes unanswered for 3 s. It
/// answers a command after `resultDelay` and answers a redelivered one again with the same result,
/// as the SDK's ledger does, so no command runs twice.
final class RawFleet: @unchecked Sendable {
    struct Agent {
        var code: String
        var service: String
        var token: String?
        var dealer: ZMQSocket
        var publisher: ZMQSocket
        var router: Int
        var factory: MessageFactory
        var agentId: String?
        var lastHello = 0.0
        var answeredHelloAt = 0.0
        var welcomedBy: Int?
        var done: [String: CommandResult] = [:]
    }

    let routers: [String]
    let count: Int
    let resultDelay: Double
    private let stop = Atomic<Bool>(false)
    private let state = Mutex<(welcomedBy: [Int: Int], executions: Int, redeliveries: Int)>(([:], 0, 0))
    private var thread: Thread?
    /// Used by the fleet's thread only, once started.
    private var agents: [Agent] = []
    private let context = ZMQContext(ioThreads: 1)
    private let finished = DispatchSemaphore(value: 0)

    init(routers: [String], ingests: [String], serverKey: CurveKey, tokens: [String], resultDelay: Double = 1.5) throws
    {
        self.routers = routers
        count = tokens.count
        self.resultDelay = resultDelay
        var agents: [Agent] = []
        for (index, token) in tokens.enumerated() {
            let pair = try CurveKeyPair.generate()
            var options = ZMQSocketOptions()
            options.linger = 0
            options.reconnectInterval = 200
            let dealer = try SocketFactory.client(
                .dealer,
                context: context,
                endpoint: routers[0],
                keyPair: pair,
                serverKey: serverKey,
                options: options
            )
            let publisher = try SocketFactory.client(
                .pub,
                context: context,
                endpoint: ingests[0],
                keyPair: pair,
                serverKey: serverKey,
                options: options
            )
            for other in ingests.dropFirst() { try publisher.connect(other) }
            let code = "fleet-\(index)"
            agents.append(
                Agent(
                    code: code,
                    service: "fleet-svc-\(index)",
                    token: token,
                    dealer: dealer,
                    publisher: publisher,
                    router: 0,
                    factory: MessageFactory(sender: code)
                )
            )
        }
        self.agents = agents
        let thread = Thread { [self] in
            self.loop(&self.agents)
            for agent in self.agents {
                agent.dealer.close()
                agent.publisher.close()
            }
            self.finished.signal()
        }
        thread.name = "raw-fleet"
        self.thread = thread
        thread.start()
    }

    /// How many agents the broker at `router` (an index into `routers`) has welcomed last.
    func welcomed(by router: Int) -> Int { state.withLock { $0.welcomedBy.values.filter { $0 == router }.count } }
    var executions: Int { state.withLock { $0.executions } }
    var redeliveries: Int { state.withLock { $0.redeliveries } }

    func shutdown() {
        stop.store(true, ordering: .relaxed)
        _ = finished.wait(timeout: .now() + 10)
    }

    private func now() -> Double { Date().timeIntervalSince1970 }

    private func hello(_ agent: inout Agent) {
        agent.lastHello = now()
        let body = AgentHello(
            agentCode: agent.code,
            services: [agent.service],
            manifestDigest: "0",
            software: "raw-fleet",
            enrollmentToken: agent.agentId == nil ? agent.token : nil
        )
        _ = try? agent.dealer.send(WireCodec.encode(header: agent.factory.plain(.agentHello), body: body))
    }

    private func move(_ agent: inout Agent, index: Int, to router: Int) {
        try? agent.dealer.disconnect(routers[agent.router])
        try? agent.dealer.connect(routers[router])
        agent.router = router
        agent.answeredHelloAt = now()
        state.withLock { _ = $0.welcomedBy.removeValue(forKey: index) }
        hello(&agent)
    }

    private func loop(_ agents: inout [Agent]) {
        var poller = ZMQPoller()
        for agent in agents { poller.add(agent.dealer) }
        var pending: [(due: Double, agent: Int, result: CommandResult)] = []
        var lastBeat = 0.0
        for index in agents.indices { hello(&agents[index]) }
        while !stop.load(ordering: .relaxed) {
            _ = try? poller.poll(timeoutMilliseconds: 20)
            for index in agents.indices {
                while let message = try? agents[index].dealer.receive(maxFrames: 4, maxBytes: 1 << 20) {
                    guard let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else { continue }
                    switch decoded.header.type {
                    case .agentWelcome:
                        guard let welcome = try? decoded.decode(AgentWelcome.self) else { continue }
                        if agents[index].agentId == nil {
                            agents[index].agentId = welcome.agentId
                            agents[index].factory = MessageFactory(sender: welcome.agentId)
                        }
                        agents[index].answeredHelloAt = now()
                        let router = agents[index].router
                        state.withLock { $0.welcomedBy[index] = router }
                    case .commandDispatch:
                        guard let dispatch = try? decoded.decode(CommandDispatch.self) else { continue }
                        _ = try? agents[index].dealer.send(
                            WireCodec.encode(
                                header: agents[index].factory.plain(.commandAck),
                                body: CommandRef(commandId: dispatch.commandId)
                            )
                        )
                        if let done = agents[index].done[dispatch.commandId] {
                            state.withLock { $0.redeliveries += 1 }
                            _ = try? agents[index].dealer.send(
                                WireCodec.encode(header: agents[index].factory.plain(.commandResult), body: done)
                            )
                        } else if !pending.contains(where: { $0.result.commandId == dispatch.commandId }) {
                            pending.append(
                                (
                                    now() + resultDelay, index,
                                    CommandResult(commandId: dispatch.commandId, success: true, message: "ok")
                                )
                            )
                        }
                    case .error:
                        let error = (try? decoded.decode(ErrorBody.self)) ?? ErrorBody(.internal, "")
                        if error.code == .standby {
                            let target =
                                error.activeBroker.flatMap { routers.firstIndex(of: $0) } ?? (agents[index].router + 1)
                                % routers.count
                            move(&agents[index], index: index, to: target)
                        }
                    default:
                        break
                    }
                }
            }
            let current = now()
            pending.removeAll { item in
                guard item.due <= current else { return false }
                agents[item.agent].done[item.result.commandId] = item.result
                state.withLock { $0.executions += 1 }
                _ = try? agents[item.agent].dealer.send(
                    WireCodec.encode(header: agents[item.agent].factory.plain(.commandResult), body: item.result)
                )
                return true
            }
            for index in agents.indices {
                if current - agents[index].answeredHelloAt > 3 && current - agents[index].lastHello > 1 {
                    move(&agents[index], index: index, to: (agents[index].router + 1) % routers.count)
                } else if current - agents[index].lastHello > 2 {
                    hello(&agents[index])
                }
            }
            if current - lastBeat >= 1 {
                lastBeat = current
                for index in agents.indices {
                    guard let agentId = agents[index].agentId else { continue }
                    let manifest = ServiceManifest(
                        code: agents[index].service,
                        name: "fleet",
                        version: "1",
                        runtime: "raw",
                        actions: [ActionDefinition(name: "noop")]
                    )
                    let report = ServiceReport(agentId: agentId, agentCode: agents[index].code, services: [manifest])
                    _ = try? agents[index].publisher.send(
                        WireCodec.encode(
                            topic: Topic.report(agentId),
                            header: agents[index].factory.sequenced(.serviceReport),
                            body: report
                        )
                    )
                    let beat = Heartbeat(
                        agentId: agentId,
                        agentCode: agents[index].code,
                        manifestDigest: report.digest,
                        intervalSeconds: 1,
                        services: [
                            ServiceHealth(
                                code: agents[index].service,
                                health: HealthReport(status: .up),
                                sampledAt: Date()
                            )
                        ]
                    )
                    _ = try? agents[index].publisher.send(
                        WireCodec.encode(
                            topic: Topic.heartbeat(agentId),
                            header: agents[index].factory.sequenced(.heartbeat),
                            body: beat
                        )
                    )
                }
            }
        }
    }
}
