import CZeroMQ
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Synchronization

// `capsule-bench fleet-worker`: one process of the simulated fleet (Benchmarks/README.md, "Fleet").
//
// It holds `--count` protocol-v1 agents, each with its own CURVE key, DEALER (router) and PUB (ingest),
// spread over `--shards` threads that each own their agents' sockets, in one libzmq context with
// `--io-threads` I/O threads. The driver (`capsule-bench fleet`) starts it at low priority, talks to it
// on stdin (one command a line) and reads one JSON stats line a second on stdout. stdin closing ends it.
//
// Event loop, per shard: one `poll(2)` over the ZMQ_FD of each agent's DEALER and of the two monitor
// sockets (level-triggered; after a signal the socket is drained until ZMQ_EVENTS shows no input, and
// after every send on a DEALER it is checked again). PUB sockets are never polled: sends are
// non-blocking (ZMQ_DONTWAIT) and libzmq processes their commands on send. Heartbeats come off a timing
// wheel (50 ms slots over one interval), so a turn touches only the agents that are due. A sweep checks
// every socket's ZMQ_EVENTS every second as a safety net against a missed edge.

struct WorkerOptions {
    var index = 0
    var first = 0
    var count = 0
    var services = 2
    var heartbeat = 5.0
    var shards = 2
    var ioThreads = 2
    var connectRate = 100.0
    var raw = false
    var home: String?
    var router: String?
    var ingest: String?
    var serverKey: String?
    var tokensFile: String?
    var zmtp: (Int32, Int32, Int32)? = (10_000, 30_000, 0)
    var reconnectMin: Int32 = 1_000
    var reconnectMax: Int32 = 5_000
    var maxSeconds = 3_600.0
    var codePrefix = "fleet"

    static func parse(_ arguments: [String]) throws -> WorkerOptions {
        var o = WorkerOptions()
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < arguments.count else { throw BenchError("\(arguments[i - 1]) needs a value") }
            return arguments[i]
        }
        func int() throws -> Int {
            let name = arguments[i]
            guard let v = Int(try value()) else { throw BenchError("\(name) needs an integer") }
            return v
        }
        func double() throws -> Double {
            let name = arguments[i]
            guard let v = Double(try value()) else { throw BenchError("\(name) needs a number") }
            return v
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--index": o.index = try int()
            case "--first": o.first = try int()
            case "--count": o.count = try int()
            case "--services": o.services = try int()
            case "--heartbeat": o.heartbeat = try double()
            case "--shards": o.shards = max(1, try int())
            case "--io-threads": o.ioThreads = max(1, try int())
            case "--connect-rate": o.connectRate = max(1, try double())
            case "--raw": o.raw = true
            case "--home": o.home = try value()
            case "--router": o.router = try value()
            case "--ingest": o.ingest = try value()
            case "--server-key": o.serverKey = try value()
            case "--tokens": o.tokensFile = try value()
            case "--zmtp-heartbeat": o.zmtp = try FleetOptions.parseZMTP(try value())
            case "--reconnect-ivl": (o.reconnectMin, o.reconnectMax) = try FleetOptions.parseRange(try value())
            case "--max-seconds": o.maxSeconds = try double()
            case "--code-prefix": o.codePrefix = try value()
            default: throw BenchError("fleet-worker: unknown argument \(arguments[i])")
            }
            i += 1
        }
        return o
    }
}

/// Commands from the driver, applied by every shard on its own thread.
enum WorkerCommand: Sendable {
    case mark
    case flip(Double)
    case kill(Double)
    case restart, quit
}

/// Counters one shard publishes; the main thread sums them into the stats line.
struct ShardStats: Sendable, Codable {
    var agents = 0, started = 0, alive = 0, dealerUp = 0, welcomed = 0, everWelcomed = 0, pubUp = 0
    var hbSent = 0, hbSkipped = 0, hbDropped = 0, reports = 0, reportRequests = 0, hellos = 0
    var dispatches = 0, results = 0, cancels = 0
    var dealerDisconnects = 0, pubDisconnects = 0, handshakeFailures = 0
    var disconnectedTwice = 0, maxDisconnects = 0, hbSinceMark = 0
    var down = 0, killed = 0, killedServices = 0
    var firstWelcomeAt = 0.0, lastWelcomeAt = 0.0
    var helloErrors: [String: Int] = [:]
    var turns = 0, sweeps = 0

    mutating func add(_ o: ShardStats) {
        agents += o.agents
        started += o.started
        alive += o.alive
        dealerUp += o.dealerUp
        welcomed += o.welcomed
        everWelcomed += o.everWelcomed
        pubUp += o.pubUp
        hbSent += o.hbSent
        hbSkipped += o.hbSkipped
        hbDropped += o.hbDropped
        reports += o.reports
        reportRequests += o.reportRequests
        hellos += o.hellos
        dispatches += o.dispatches
        results += o.results
        cancels += o.cancels
        dealerDisconnects += o.dealerDisconnects
        pubDisconnects += o.pubDisconnects
        handshakeFailures += o.handshakeFailures
        disconnectedTwice += o.disconnectedTwice
        maxDisconnects = max(maxDisconnects, o.maxDisconnects)
        hbSinceMark += o.hbSinceMark
        down += o.down
        killed += o.killed
        killedServices += o.killedServices
        if o.firstWelcomeAt > 0 {
            firstWelcomeAt = firstWelcomeAt == 0 ? o.firstWelcomeAt : min(firstWelcomeAt, o.firstWelcomeAt)
        }
        lastWelcomeAt = max(lastWelcomeAt, o.lastWelcomeAt)
        for (k, v) in o.helloErrors { helloErrors[k, default: 0] += v }
        turns += o.turns
        sweeps += o.sweeps
    }

    /// One JSON line for the driver.
    var line: Data { ((try? JSONEncoder().encode(self)) ?? Data("{}".utf8)) + Data("\n".utf8) }
}

/// One simulated agent. Owned and touched by one shard thread only.
final class SimAgent {
    let global: Int
    let code: String
    let serviceCodes: [String]
    let keyPair: CurveKeyPair
    let token: String?
    let phase: Double
    var enrolled = false
    var agentId: String?
    var factory: MessageFactory
    var dealer: ZMQSocket?
    var dealerMonitor: ZMQMonitor?
    var publisher: ZMQSocket?
    var publisherMonitor: ZMQMonitor?
    var started = false
    var alive = false
    var dealerUp = false
    var welcomed = false
    var everWelcomed = false
    var pubUp = false
    var pubReadyAt = 0.0
    var reportDue = false
    var helloId = ""
    var helloSentAt = -1e9
    var dealerDisconnects = 0
    var pubDisconnects = 0
    var hbSinceMark = false
    var health: [HealthStatus]
    var report: ServiceReport?

    init(global: Int, code: String, services: [String], keyPair: CurveKeyPair, token: String?, phase: Double) {
        self.global = global
        self.code = code
        self.serviceCodes = services
        self.keyPair = keyPair
        self.token = token
        self.phase = phase
        self.factory = MessageFactory(sender: code)
        self.health = services.map { _ in .up }
    }

    var manifests: [ServiceManifest] {
        serviceCodes.enumerated().map { index, code in
            ServiceManifest(
                code: code,
                name: "Fleet service \(global)-\(index)",
                version: "1.0.0",
                runtime: "swift",
                actions: [ActionDefinition(name: "ping", description: "answers at once")]
            )
        }
    }
}

/// Stable pseudo-random fraction in [0, 1) for agent or service number `n`, so every process agrees on
/// which agents a `kill 0.05` or services a `flip 0.1` picks.
func stableFraction(_ n: Int, salt: UInt64) -> Double {
    var x = UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15 ^ salt
    x ^= x >> 31
    x = x &* 0xBF58_476D_1CE4_E5B9
    x ^= x >> 29
    return Double(x >> 11) / Double(1 << 53)
}

final class FleetShard: @unchecked Sendable {
    private let options: WorkerOptions
    private let context: ZMQContext
    private let endpoints: (router: String, ingest: String, serverKey: CurveKey)
    private let agentSpecs: [(global: Int, token: String?)]
    private let commands = Mutex<[WorkerCommand]>([])
    let stats = Mutex(ShardStats())
    private let done = DispatchSemaphore(value: 0)

    // Thread-owned state.
    private var agents: [SimAgent] = []
    private var pollItems: [pollfd] = []
    private var pollOwners: [(agent: Int, kind: UInt8)] = []
    private var pollDirty = true
    private var wheel: [[Int]] = []
    private let tick = 0.05
    private var lastSlot = -1
    private var pendingReports: Set<Int> = []
    private var local = ShardStats()
    private var quitting = false
    private let epoch = monotonic()
    private var flipFraction = 0.0
    private var closingMonitors: [(monitor: ZMQMonitor, deadline: Double)] = []
    /// Only the events the agent acts on (not CONNECT_DELAYED, CONNECT_RETRIED, CLOSED, ... which a
    /// reconnect loop produces in numbers).
    static let monitorEvents: Int32 =
        ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_MONITOR_STOPPED
        | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH

    init(options: WorkerOptions, context: ZMQContext, endpoints: (String, String, CurveKey), agents: [(Int, String?)]) {
        self.options = options
        self.context = context
        self.endpoints = endpoints
        self.agentSpecs = agents
    }

    func post(_ command: WorkerCommand) { commands.withLock { $0.append(command) } }

    func start(name: String) {
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }

    func join(seconds: Double) -> Bool { done.wait(timeout: .now() + seconds) == .success }

    private var now: Double { monotonic() - epoch }

    private func run() {
        let slots = max(1, Int((options.heartbeat / tick).rounded()))
        wheel = Array(repeating: [], count: slots)
        for (global, token) in agentSpecs {
            // The key is made up front, so creating keys is not part of the enrolment time.
            guard let keyPair = try? CurveKeyPair.generate() else { continue }
            let code = "\(options.codePrefix)-\(global)"
            let services = (0..<options.services).map { "\(options.codePrefix)-\(global)-s\($0)" }
            let agent = SimAgent(
                global: global,
                code: code,
                services: services,
                keyPair: keyPair,
                token: token,
                phase: Double.random(in: 0..<options.heartbeat)
            )
            let index = agents.count
            agents.append(agent)
            wheel[min(slots - 1, Int(agent.phase / tick))].append(index)
        }
        local.agents = agents.count
        // Pace connects over the shard's share of the connect rate.
        let interval = 1.0 / (options.connectRate / Double(options.shards))
        var nextStart = 0
        let startedAt = now
        var lastSweep = now
        var lastStats = -1.0
        let deadline = now + options.maxSeconds
        while !quitting && now < deadline {
            for command in commands.withLock({ q -> [WorkerCommand] in
                defer { q.removeAll() }
                return q
            }) { apply(command) }
            while nextStart < agents.count && now >= startedAt + Double(nextStart) * interval {
                open(agents[nextStart], index: nextStart)
                nextStart += 1
            }
            if pollDirty { rebuildPoll() }
            var timeout = Int32(tick * 1000)
            if nextStart < agents.count {
                timeout = min(timeout, Int32(max(0, (startedAt + Double(nextStart) * interval - now) * 1000)))
            }
            let ready = pollItems.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
            local.turns += 1
            if ready > 0 {
                for i in pollItems.indices where pollItems[i].revents != 0 {
                    let owner = pollOwners[i]
                    pollItems[i].revents = 0
                    service(owner.agent, kind: owner.kind)
                }
            }
            runWheel()
            if !pendingReports.isEmpty { flushReports() }
            if !closingMonitors.isEmpty { drainClosingMonitors() }
            if now - lastSweep >= 1 {
                lastSweep = now
                local.sweeps += 1
                for index in agents.indices where agents[index].alive {
                    service(index, kind: 0)
                    service(index, kind: 1)
                    service(index, kind: 2)
                }
            }
            if now - lastStats >= 0.25 {
                lastStats = now
                publishStats()
            }
        }
        for index in agents.indices { close(agents[index], final: true) }
        for (monitor, _) in closingMonitors { monitor.socket.close() }
        publishStats()
    }

    private func drainClosingMonitors() {
        let t = now
        closingMonitors.removeAll { entry in
            var stopped = false
            while let event = try? entry.monitor.next() {
                if event.kind == .monitorStopped { stopped = true }
            }
            if stopped || t > entry.deadline {
                entry.monitor.socket.close()
                return true
            }
            return false
        }
    }

    // MARK: Control

    private func apply(_ command: WorkerCommand) {
        switch command {
        case .quit:
            quitting = true
        case .mark:
            for agent in agents {
                agent.dealerDisconnects = 0
                agent.pubDisconnects = 0
                agent.hbSinceMark = false
            }
        case .flip(let fraction):
            flipFraction = fraction
            for agent in agents {
                for s in agent.serviceCodes.indices {
                    let n = agent.global * options.services + s
                    agent.health[s] = stableFraction(n, salt: 0xF11) < fraction ? .down : .up
                }
            }
        case .kill(let fraction):
            for (index, agent) in agents.enumerated()
            where agent.alive && stableFraction(agent.global, salt: 0xDEAD) < fraction {
                close(agent)
                agent.started = true
                _ = index
            }
        case .restart:
            for (index, agent) in agents.enumerated() where agent.started && !agent.alive { open(agent, index: index) }
        }
    }

    // MARK: Sockets

    private func socketOptions() -> ZMQSocketOptions {
        var o = ZMQSocketOptions.agent(
            jitter: Int32.random(in: options.reconnectMin...max(options.reconnectMin, options.reconnectMax))
        )
        o.reconnectIntervalMax = 30_000
        if let (ivl, timeout, ttl) = options.zmtp {
            o.heartbeatInterval = ivl
            o.heartbeatTimeout = timeout
            o.heartbeatTTL = ttl > 0 ? ttl : nil
        } else {
            o.heartbeatInterval = nil
            o.heartbeatTimeout = nil
            o.heartbeatTTL = nil
        }
        o.linger = 0
        return o
    }

    private func open(_ agent: SimAgent, index: Int) {
        agent.started = true
        do {
            let dealer = try ZMQSocket(context: context, type: .dealer, lingerMilliseconds: 0)
            try dealer.apply(socketOptions())
            try dealer.makeCurveClient(keyPair: agent.keyPair, serverKey: endpoints.serverKey)
            let monitor = try ZMQMonitor(context: context, target: dealer, events: Self.monitorEvents)
            try dealer.connect(endpoints.router)
            agent.dealer = dealer
            agent.dealerMonitor = monitor
            agent.alive = true
            agent.dealerUp = false
            agent.welcomed = false
            agent.pubUp = false
            pollDirty = true
        } catch {
            local.helloErrors["open_failed", default: 0] += 1
        }
    }

    private func openPublisher(_ agent: SimAgent) {
        do {
            let publisher = try ZMQSocket(context: context, type: .pub, lingerMilliseconds: 0)
            try publisher.apply(socketOptions())
            try publisher.makeCurveClient(keyPair: agent.keyPair, serverKey: endpoints.serverKey)
            let monitor = try ZMQMonitor(context: context, target: publisher, events: Self.monitorEvents)
            try publisher.connect(endpoints.ingest)
            agent.publisher = publisher
            agent.publisherMonitor = monitor
            pollDirty = true
        } catch {
            local.helloErrors["pub_open_failed", default: 0] += 1
        }
    }

    /// Closes an agent's sockets. Its monitor sockets stay open and drained until libzmq reports
    /// MONITOR_STOPPED: libzmq 4.3 sends monitor events from its I/O and reaper threads with a blocking
    /// send, so closing our end first would leave those threads blocked for good (seen here: every
    /// connection of the worker stuck in CLOSE-WAIT after a churn).
    private func close(_ agent: SimAgent, final: Bool = false) {
        for socket in [agent.dealer, agent.publisher] {
            try? socket?.setOption(ZMQ_LINGER, Int32(0))
            socket?.close()
        }
        for monitor in [agent.dealerMonitor, agent.publisherMonitor] {
            guard let monitor else { continue }
            if final { monitor.socket.close() } else { closingMonitors.append((monitor, now + 10)) }
        }
        agent.dealer = nil
        agent.publisher = nil
        agent.dealerMonitor = nil
        agent.publisherMonitor = nil
        agent.alive = false
        agent.dealerUp = false
        agent.welcomed = false
        agent.pubUp = false
        pollDirty = true
    }

    private func rebuildPoll() {
        pollItems.removeAll(keepingCapacity: true)
        pollOwners.removeAll(keepingCapacity: true)
        for (index, agent) in agents.enumerated() where agent.alive {
            for (kind, socket) in [
                (UInt8(0), agent.dealer), (1, agent.dealerMonitor?.socket), (2, agent.publisherMonitor?.socket),
            ] {
                guard let socket, let fd = try? socket.getInt32(ZMQ_FD) else { continue }
                pollItems.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                pollOwners.append((index, kind))
            }
        }
        pollDirty = false
    }

    private func hasInput(_ socket: ZMQSocket) -> Bool {
        guard let events = try? socket.getInt32(ZMQ_EVENTS) else { return false }
        return events & ZMQ_POLLIN != 0
    }

    /// Drains one socket of one agent until it has no input left.
    private func service(_ index: Int, kind: UInt8) {
        let agent = agents[index]
        guard agent.alive else { return }
        switch kind {
        case 0:
            guard let dealer = agent.dealer else { return }
            var budget = 64
            while budget > 0, hasInput(dealer), let message = try? dealer.receive(maxFrames: 4, maxBytes: 1 << 20) {
                budget -= 1
                handleDealer(agent, index: index, message)
                guard agent.alive, agent.dealer != nil else { return }
            }
        case 1:
            guard let monitor = agent.dealerMonitor else { return }
            while hasInput(monitor.socket), let event = try? monitor.next() {
                switch event.kind {
                case .handshakeSucceeded:
                    agent.dealerUp = true
                    sendHello(agent, index: index)
                case .disconnected:
                    if agent.dealerUp { agent.dealerDisconnects += 1 }
                    agent.dealerUp = false
                    agent.welcomed = false
                    local.dealerDisconnects += 1
                case .handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail:
                    local.handshakeFailures += 1
                default: break
                }
            }
        default:
            guard let monitor = agent.publisherMonitor else { return }
            while hasInput(monitor.socket), let event = try? monitor.next() {
                switch event.kind {
                case .handshakeSucceeded:
                    agent.pubUp = true
                    agent.pubReadyAt = now + 0.2
                    agent.reportDue = true
                    pendingReports.insert(index)
                case .disconnected:
                    if agent.pubUp { agent.pubDisconnects += 1 }
                    agent.pubUp = false
                    local.pubDisconnects += 1
                case .handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail:
                    local.handshakeFailures += 1
                default: break
                }
            }
        }
    }

    // MARK: Protocol

    private func send(_ agent: SimAgent, index: Int, _ type: MessageType, corr: String? = nil, _ body: some Encodable) {
        guard let dealer = agent.dealer else { return }
        let header = agent.factory.plain(type, corr: corr)
        if type == .agentHello { agent.helloId = header.id }
        _ = try? dealer.send(WireCodec.encode(header: header, body: body), dontWait: true)
    }

    private func sendHello(_ agent: SimAgent, index: Int) {
        let digest = ManifestDigest.of(agent.manifests)
        let hello = AgentHello(
            agentCode: agent.code,
            services: agent.serviceCodes,
            manifestDigest: digest,
            software: options.raw ? "raw-fleet" : "capsule-bench-fleet",
            enrollmentToken: agent.enrolled ? nil : agent.token
        )
        send(agent, index: index, .agentHello, hello)
        agent.helloSentAt = now
        local.hellos += 1
    }

    private func handleDealer(_ agent: SimAgent, index: Int, _ message: ZMQMessage) {
        if options.raw {
            // The raw server answers every hello with one small reply: that is the welcome.
            welcome(agent, index: index, agentId: agent.code)
            return
        }
        guard let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else { return }
        switch decoded.header.type {
        case .agentWelcome:
            guard let body = try? decoded.decode(AgentWelcome.self) else { return }
            welcome(agent, index: index, agentId: body.agentId)
        case .error:
            let code = (try? decoded.decode(ErrorBody.self))?.code.rawValue ?? "unknown"
            local.helloErrors[code, default: 0] += 1
        case .commandDispatch:
            guard let dispatch = try? decoded.decode(CommandDispatch.self) else { return }
            local.dispatches += 1
            send(agent, index: index, .commandAck, CommandRef(commandId: dispatch.commandId))
            send(
                agent,
                index: index,
                .commandResult,
                CommandResult(commandId: dispatch.commandId, success: true, message: "pong", data: nil, error: nil)
            )
            local.results += 1
        case .commandCancel:
            local.cancels += 1
        case .reportRequest:
            local.reportRequests += 1
            agent.reportDue = true
            pendingReports.insert(index)
        default:
            break
        }
    }

    private func welcome(_ agent: SimAgent, index: Int, agentId: String) {
        let wasWelcomed = agent.welcomed
        agent.welcomed = true
        agent.enrolled = true
        if agent.agentId != agentId {
            agent.agentId = agentId
            agent.factory = MessageFactory(sender: agentId, startingSeq: agent.factory.seq)
            agent.report = ServiceReport(agentId: agentId, agentCode: agent.code, services: agent.manifests)
        }
        let wall = Date().timeIntervalSince1970
        if !agent.everWelcomed {
            agent.everWelcomed = true
            if local.firstWelcomeAt == 0 { local.firstWelcomeAt = wall }
            local.lastWelcomeAt = max(local.lastWelcomeAt, wall)
        }
        if agent.publisher == nil {
            openPublisher(agent)
        } else if !wasWelcomed {
            // Protocol §8: publish the report again after every welcome.
            agent.reportDue = true
            pendingReports.insert(index)
        }
    }

    private func flushReports() {
        let t = now
        for index in pendingReports {
            let agent = agents[index]
            guard agent.alive else {
                pendingReports.remove(index)
                continue
            }
            guard agent.reportDue, agent.welcomed, agent.pubUp, t >= agent.pubReadyAt, let report = agent.report,
                let publisher = agent.publisher, let agentId = agent.agentId
            else { continue }
            _ = try? publisher.send(
                WireCodec.encode(
                    topic: Topic.report(agentId),
                    header: agent.factory.sequenced(.serviceReport),
                    body: report
                )
            )
            local.reports += 1
            agent.reportDue = false
            pendingReports.remove(index)
            heartbeat(agent)
        }
    }

    private func heartbeat(_ agent: SimAgent) {
        guard let publisher = agent.publisher, let agentId = agent.agentId, let report = agent.report else { return }
        let sampled = Date()
        let services = agent.serviceCodes.enumerated().map { s, code in
            ServiceHealth(code: code, health: HealthReport(status: agent.health[s]), sampledAt: sampled)
        }
        let body = Heartbeat(
            agentId: agentId,
            agentCode: agent.code,
            manifestDigest: report.digest,
            intervalSeconds: options.heartbeat,
            services: services,
            droppedStale: 0
        )
        if (try? publisher.send(
            WireCodec.encode(topic: Topic.heartbeat(agentId), header: agent.factory.sequenced(.heartbeat), body: body)
        )) == true {
            local.hbSent += 1
            agent.hbSinceMark = true
        } else {
            local.hbDropped += 1
        }
    }

    private func runWheel() {
        let slot = Int(now / tick)
        if lastSlot < 0 { lastSlot = slot - 1 }
        var steps = 0
        while lastSlot < slot && steps < wheel.count {
            lastSlot += 1
            steps += 1
            let t = now
            for index in wheel[lastSlot % wheel.count] {
                let agent = agents[index]
                guard agent.alive else { continue }
                if agent.dealerUp && !agent.welcomed && t - agent.helloSentAt >= 5 { sendHello(agent, index: index) }
                if agent.welcomed && agent.pubUp && t >= agent.pubReadyAt && !agent.reportDue {
                    heartbeat(agent)
                } else if agent.everWelcomed {
                    local.hbSkipped += 1
                }
            }
        }
        lastSlot = slot
    }

    private func publishStats() {
        var s = local
        s.started = 0
        s.alive = 0
        s.dealerUp = 0
        s.welcomed = 0
        s.everWelcomed = 0
        s.pubUp = 0
        s.disconnectedTwice = 0
        s.maxDisconnects = 0
        s.hbSinceMark = 0
        s.down = 0
        s.killed = 0
        s.killedServices = 0
        for agent in agents {
            if agent.started { s.started += 1 }
            if agent.alive {
                s.alive += 1
            } else if agent.started {
                s.killed += 1
                s.killedServices += agent.serviceCodes.count
            }
            if agent.dealerUp { s.dealerUp += 1 }
            if agent.welcomed { s.welcomed += 1 }
            if agent.everWelcomed { s.everWelcomed += 1 }
            if agent.pubUp { s.pubUp += 1 }
            if agent.hbSinceMark { s.hbSinceMark += 1 }
            let worst = max(agent.dealerDisconnects, agent.pubDisconnects)
            if worst > 1 { s.disconnectedTwice += 1 }
            s.maxDisconnects = max(s.maxDisconnects, worst)
            if agent.alive { s.down += agent.health.filter { $0 != .up }.count }
        }
        stats.withLock { $0 = s }
    }
}

enum FleetWorker {
    static func main(_ arguments: [String]) throws {
        let options = try WorkerOptions.parse(arguments)
        signal(SIGPIPE, SIG_IGN)
        let endpoints: (String, String, CurveKey)
        if let home = options.home {
            let (info, key) = try BrokerInfo.resolve(home: CapsuleHome(path: home))
            endpoints = (info.router, info.ingest, key)
        } else {
            guard let router = options.router, let ingest = options.ingest, let text = options.serverKey,
                let key = CurveKey(z85: text)
            else {
                throw BenchError("fleet-worker needs --home, or --router, --ingest and --server-key")
            }
            endpoints = (router, ingest, key)
        }
        var tokens: [String] = []
        if let file = options.tokensFile {
            tokens = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
            guard tokens.count >= options.count else {
                throw BenchError("\(file) holds \(tokens.count) tokens, need \(options.count)")
            }
        } else if !options.raw {
            throw BenchError("fleet-worker needs --tokens unless --raw")
        }
        let context = ZMQContext(ioThreads: Int32(options.ioThreads))
        var built: [FleetShard] = []
        for s in 0..<options.shards {
            var specs: [(Int, String?)] = []
            for i in stride(from: s, to: options.count, by: options.shards) {
                specs.append((options.first + i, tokens.isEmpty ? nil : tokens[i]))
            }
            built.append(FleetShard(options: options, context: context, endpoints: endpoints, agents: specs))
        }
        let shards = built
        for (s, shard) in shards.enumerated() { shard.start(name: "fleet-\(options.index)-\(s)") }

        // stdin: commands; EOF (the driver is gone) ends the worker.
        let stdinDone = Atomic<Bool>(false)
        let reader = Thread {
            while let line = readLine() {
                let parts = line.split(separator: " ").map(String.init)
                guard let verb = parts.first else { continue }
                let value = parts.count > 1 ? Double(parts[1]) ?? 0 : 0
                let command: WorkerCommand?
                switch verb {
                case "mark": command = .mark
                case "flip": command = .flip(value)
                case "kill": command = .kill(value)
                case "restart": command = .restart
                case "quit": command = .quit
                default: command = nil
                }
                if let command { for shard in shards { shard.post(command) } }
                if verb == "quit" { break }
            }
            stdinDone.store(true, ordering: .releasing)
        }
        reader.start()
        let deadline = monotonic() + options.maxSeconds
        while !stdinDone.load(ordering: .acquiring) && monotonic() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            var total = ShardStats()
            for shard in shards { total.add(shard.stats.withLock { $0 }) }
            FileHandle.standardOutput.write(total.line)
        }
        for shard in shards { shard.post(.quit) }
        for shard in shards { _ = shard.join(seconds: 10) }
        var total = ShardStats()
        for shard in shards { total.add(shard.stats.withLock { $0 }) }
        FileHandle.standardOutput.write(total.line)
        // The context ends when every socket is closed (linger 0); exit without waiting on it.
        exit(0)
    }
}
