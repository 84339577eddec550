import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import GRDB
import Synchronization

/// Raw protocol-v1 agents on one thread that answer every command at once (ack, then a success
/// result), so the command figures measure Capsule's path, not a handler. Each agent declares one
/// service `cmd-svc-N` with the action `noop`, and heartbeats every 2 s so it reads ONLINE.
final class CommandAgents: Sendable {
    final class Counters: Sendable {
        let results = Atomic<Int>(0)
        let ready = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
    }

    let count: Int
    let counters = Counters()
    private let thread: BenchThread

    var ready: Int { counters.ready.load(ordering: .relaxed) }
    var results: Int { counters.results.load(ordering: .relaxed) }

    init(home: CapsuleHome, tokens: [String], nice: Int32) {
        count = tokens.count
        let counters = counters
        let codeBase = "cmd-agent"
        thread = BenchThread(name: "command-agents") {
            if nice > 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) }
            let (info, serverKey) = try BrokerInfo.resolve(home: home)
            let context = ZMQContext(ioThreads: 1)
            struct Agent {
                var dealer: ZMQSocket
                var publisher: ZMQSocket
                var factory: MessageFactory
                var agentId: String?
                var report: ServiceReport?
                var code: String
                var service: String
            }
            var agents: [Agent] = []
            for (index, token) in tokens.enumerated() {
                let pair = try CurveKeyPair.generate()
                var options = ZMQSocketOptions()
                options.linger = 0
                options.reconnectInterval = 100
                options.sendHighWaterMark = 0
                options.receiveHighWaterMark = 0
                let dealer = try SocketFactory.client(
                    .dealer,
                    context: context,
                    endpoint: info.router,
                    keyPair: pair,
                    serverKey: serverKey,
                    options: options
                )
                let publisher = try SocketFactory.client(
                    .pub,
                    context: context,
                    endpoint: info.ingest,
                    keyPair: pair,
                    serverKey: serverKey,
                    options: options
                )
                let code = "\(codeBase)-\(index)"
                var factory = MessageFactory(sender: code)
                let hello = AgentHello(
                    agentCode: code,
                    services: ["cmd-svc-\(index)"],
                    manifestDigest: "0",
                    software: "capsule-bench",
                    enrollmentToken: token
                )
                try dealer.send(WireCodec.encode(header: factory.plain(.agentHello), body: hello), dontWait: false)
                factory = MessageFactory(sender: code)
                agents.append(
                    Agent(
                        dealer: dealer,
                        publisher: publisher,
                        factory: factory,
                        agentId: nil,
                        report: nil,
                        code: code,
                        service: "cmd-svc-\(index)"
                    )
                )
            }
            defer {
                for agent in agents {
                    agent.dealer.close()
                    agent.publisher.close()
                }
            }
            var poller = ZMQPoller()
            for agent in agents { poller.add(agent.dealer) }
            var lastBeat = 0.0
            while !counters.stop.load(ordering: .relaxed) {
                _ = try poller.poll(timeoutMilliseconds: 20)
                for index in agents.indices {
                    while let message = try agents[index].dealer.receive(maxFrames: 4, maxBytes: 1 << 20) {
                        guard let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else { continue }
                        switch decoded.header.type {
                        case .agentWelcome:
                            let welcome = try decoded.decode(AgentWelcome.self)
                            agents[index].agentId = welcome.agentId
                            agents[index].factory = MessageFactory(sender: welcome.agentId)
                            let manifest = ServiceManifest(
                                code: agents[index].service,
                                name: "Command bench",
                                version: "1",
                                runtime: "bench",
                                actions: [ActionDefinition(name: "noop")]
                            )
                            agents[index].report = ServiceReport(
                                agentId: welcome.agentId,
                                agentCode: agents[index].code,
                                services: [manifest]
                            )
                            counters.ready.add(1, ordering: .relaxed)
                        case .commandDispatch:
                            let dispatch = try decoded.decode(CommandDispatch.self)
                            try agents[index].dealer.send(
                                WireCodec.encode(
                                    header: agents[index].factory.plain(.commandAck),
                                    body: CommandRef(commandId: dispatch.commandId)
                                ),
                                dontWait: false
                            )
                            try agents[index].dealer.send(
                                WireCodec.encode(
                                    header: agents[index].factory.plain(.commandResult),
                                    body: CommandResult(
                                        commandId: dispatch.commandId,
                                        success: true,
                                        message: "ok"
                                    )
                                ),
                                dontWait: false
                            )
                            counters.results.add(1, ordering: .relaxed)
                        default:
                            break
                        }
                    }
                }
                let now = monotonic()
                if now - lastBeat > 1 {
                    lastBeat = now
                    for index in agents.indices {
                        guard let agentId = agents[index].agentId, let report = agents[index].report else { continue }
                        // The report again each beat until the broker surely has it (a PUB drops what it sends before the subscription).
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
                            intervalSeconds: 2,
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
            withExtendedLifetime(context) {}
        }
    }

    func shutdown() throws {
        counters.stop.store(true, ordering: .relaxed)
        try thread.join(seconds: 10)
    }
}

/// An operator DEALER that pipelines requests: send many, then collect the replies by `corr`.
final class PipelinedOperator {
    let context = ZMQContext()
    let dealer: ZMQSocket
    var factory = MessageFactory(sender: "operator:local-owner")

    init(home: CapsuleHome) throws {
        let (info, serverKey) = try BrokerInfo.resolve(home: home)
        var options = ZMQSocketOptions()
        options.linger = 0
        options.sendHighWaterMark = 0
        options.receiveHighWaterMark = 0
        dealer = try SocketFactory.client(
            .dealer,
            context: context,
            endpoint: info.router,
            keyPair: try KeyFile.read(home.keyFile("operator")),
            serverKey: serverKey,
            options: options
        )
    }

    deinit { dealer.close() }

    func send<Op: RequestOperation>(_ op: Op.Type, _ params: Op.Params) throws -> String {
        let header = factory.plain(.request)
        try dealer.send(
            WireCodec.encode(header: header, body: OperationRequest(service: Op.service, op: Op.name, params: params)),
            dontWait: false
        )
        return header.id
    }

    /// Receives replies for up to `seconds`, handing each (corr, reply) to `body`; stops when `body` says so.
    func receive(seconds: Double, _ body: (String, WireMessage) throws -> Bool) throws {
        let deadline = monotonic() + seconds
        var poller = ZMQPoller()
        poller.add(dealer)
        while monotonic() < deadline {
            _ = try poller.poll(timeoutMilliseconds: 20)
            while let message = try dealer.receive(maxFrames: 4, maxBytes: 1 << 22) {
                guard let decoded = try? WireCodec.decode(message.frames, hasTopic: false),
                    let corr = decoded.header.corr
                else { continue }
                if try !body(corr, decoded) { return }
            }
        }
        throw BenchError("replies did not arrive within \(Int(seconds)) s")
    }
}

/// Issue 11's command figures, each beside its raw baseline from the same run.
enum CommandBench {
    struct Figures {
        var roundTrip: [Double] = []
        var pipelinedPerSecond: Double = 0
        var pipelined = 0
        var audited: (succeeded: Int, distinct: Int, created: Int) = (0, 0, 0)
        var burstSeconds: Double = 0
        var burstCommands = 0
        var burstAgents = 0
        var brokerCPUPerCommand: Double = 0
        var auditCPUPerCommand: Double = 0
    }

    /// Sequential `command.create` with `waitSeconds`: one request, answered once the agent's result is stored.
    static func roundTrip(client: RequestClient, service: String, requests: Int) throws -> [Double] {
        let params = BrokerOps.CommandCreate.Params(service: service, action: "noop", waitSeconds: 10)
        for _ in 0..<50 { _ = try client.call(BrokerOps.CommandCreate.self, params) }
        var samples: [Double] = []
        for _ in 0..<requests {
            let start = monotonic()
            let record = try client.call(BrokerOps.CommandCreate.self, params)
            samples.append((monotonic() - start) * 1e6)
            guard record.status == .succeeded else {
                throw BenchError("a round-trip command ended \(record.status.rawValue)")
            }
        }
        return samples
    }

    /// `count` commands over the agents' services, `window` outstanding at most, each answered when
    /// terminal; returns commands per second from the first send to the last terminal answer.
    static func pipelined(
        operator client: PipelinedOperator,
        services: [String],
        count: Int,
        window: Int
    ) throws -> (rate: Double, seconds: Double) {
        var sent = 0
        var done = 0
        var outstanding = 0
        let start = monotonic()
        func top() throws {
            while outstanding < window && sent < count {
                _ = try client.send(
                    BrokerOps.CommandCreate.self,
                    .init(service: services[sent % services.count], action: "noop", waitSeconds: 60)
                )
                sent += 1
                outstanding += 1
            }
        }
        try top()
        try client.receive(seconds: 300) { _, reply in
            guard reply.header.type == .reply else {
                throw BenchError("a create was refused: \(reply.header.type.rawValue)")
            }
            let answer = try reply.decode(TypedReply<CommandRecord>.self)
            guard let record = answer.result, record.status == .succeeded else {
                throw BenchError(
                    "a pipelined command did not succeed: \(answer.error.map { "\($0.code): \($0.message)" } ?? "\(answer.result?.status.rawValue ?? "?")")"
                )
            }
            done += 1
            outstanding -= 1
            try top()
            return done < count
        }
        let seconds = monotonic() - start
        return (Double(count) / seconds, seconds)
    }

    /// Counts command events in the audit store (read-only), once it settled.
    static func audited(home: URL) throws -> (succeeded: Int, distinct: Int, created: Int) {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(
            path: home.appendingPathComponent("data/audit.sqlite").path,
            configuration: configuration
        )
        defer { try? queue.close() }
        return try queue.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_event WHERE action = 'command.succeeded'") ?? 0,
                try Int.fetchOne(
                    db,
                    sql: "SELECT COUNT(DISTINCT subject) FROM audit_event WHERE action = 'command.succeeded'"
                ) ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_event WHERE action = 'command.created'") ?? 0
            )
        }
    }
}
