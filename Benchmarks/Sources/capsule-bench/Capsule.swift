import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Synchronization

/// The local owner operator's request client, as `capsulectl` uses it. Main thread only.
final class OperatorClient {
    private let client: RequestClient

    init(home: CapsuleHome) throws {
        let (info, serverKey) = try BrokerInfo.resolve(home: home)
        client = try RequestClient(
            endpoint: info.router,
            keyPair: try KeyFile.read(home.keyFile("operator")),
            serverKey: serverKey,
            sender: "operator:local-owner",
            timeout: 5
        )
    }

    /// Sends a request and waits (bounded) for its reply; returns the result or throws the error.
    func call(_ service: String, _ op: String, timeout: Double = 5) throws -> JSONValue {
        do {
            return try client.call(service, op, timeout: timeout)
        } catch let error as ErrorBody {
            throw BenchError("\(service) \(op): \(error.code): \(error.message)")
        }
    }

    struct Snapshot {
        var received: Int
        var at: Double
        var latency: Double
    }

    /// `aggregator.stats` → received, stamped at the midpoint of the request's round trip.
    func aggregatorReceived() throws -> Snapshot {
        let start = monotonic()
        let result = try call("aggregator", "aggregator.stats", timeout: 10)
        let end = monotonic()
        guard let received = result["received"]?.intValue else {
            throw BenchError("aggregator.stats has no received count")
        }
        return Snapshot(received: received, at: (start + end) / 2, latency: end - start)
    }

    struct BrokerCounts {
        var forwarded: Int
        var dropped: [String: Int]
    }

    func brokerCounts() throws -> BrokerCounts {
        let result = try call("broker", "broker.stats", timeout: 10)
        var dropped: [String: Int] = [:]
        if case .object(let object)? = result["dropped"] {
            for (reason, value) in object { dropped[reason] = value.intValue ?? 0 }
        }
        return BrokerCounts(forwarded: result["forwarded"]?.intValue ?? 0, dropped: dropped)
    }
}

/// What the main thread tells every agent thread, and what they report back.
final class AgentControl: Sendable {
    enum Phase: Int {
        case idle = 0
        case run = 1
        case quit = 2
    }

    final class Slot: Sendable {
        /// Heartbeats accepted by zmq_send, cumulative.
        let sent = Atomic<Int>(0)
        /// Whether the agent is inside its publishing loop.
        let running = Atomic<Bool>(false)
    }

    private let phaseValue = Atomic<Int>(0)
    let slots: [Slot]
    private let reportsResentValue = Atomic<Int>(0)

    init(agents: Int) {
        slots = (0..<agents).map { _ in Slot() }
    }

    var phase: Phase { Phase(rawValue: phaseValue.load(ordering: .acquiring)) ?? .quit }
    func set(_ phase: Phase) { phaseValue.store(phase.rawValue, ordering: .releasing) }

    var totalSent: Int { slots.reduce(0) { $0 + $1.sent.load(ordering: .acquiring) } }
    var anyRunning: Bool { slots.contains { $0.running.load(ordering: .acquiring) } }
    var reportsResent: Int { reportsResentValue.load(ordering: .relaxed) }
    func countReportResent() { reportsResentValue.add(1, ordering: .relaxed) }
}

/// One raw protocol-v1 agent on its own thread: hello with a token, PUB to ingest, one service report,
/// then heartbeats (one service, UP) as fast as it can whenever the phase says run.
/// With `nice` > 0 the thread and its libzmq I/O thread run at that niceness, so the load generator
/// takes only CPU the daemons leave over (2-core machine: everything shares the same cores).
enum BenchAgent {
    static func start(
        index: Int,
        home: CapsuleHome,
        token: String,
        nice: Int32,
        control: AgentControl,
        welcomed: Handoff<String>
    ) -> BenchThread {
        BenchThread(name: "bench-agent-\(index)") {
            if nice > 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) }
            try run(index: index, home: home, token: token, control: control, welcomed: welcomed)
        }
    }

    private static func run(
        index: Int,
        home: CapsuleHome,
        token: String,
        control: AgentControl,
        welcomed: Handoff<String>
    ) throws {
        let (info, serverKey) = try BrokerInfo.resolve(home: home)
        let context = ZMQContext()
        let keyPair = try CurveKeyPair.generate()
        let code = "bench-agent-\(index)"
        let serviceCode = "bench-svc-\(index)"

        var dealerOptions = ZMQSocketOptions()
        dealerOptions.linger = 0
        dealerOptions.reconnectInterval = 100
        dealerOptions.handshakeInterval = 5_000
        let dealer = try SocketFactory.client(
            .dealer,
            context: context,
            endpoint: info.router,
            keyPair: keyPair,
            serverKey: serverKey,
            options: dealerOptions
        )
        defer { dealer.close() }

        // Hello → welcome.
        var factory = MessageFactory(sender: code)
        let hello = AgentHello(
            agentCode: code,
            services: [serviceCode],
            manifestDigest: "0",
            software: "capsule-bench",
            enrollmentToken: token
        )
        let helloHeader = factory.plain(.agentHello)
        try dealer.send(WireCodec.encode(header: helloHeader, body: hello), dontWait: false)
        guard let welcome = try receive(dealer, seconds: 10) else {
            throw BenchError("\(code): no welcome within 10 s")
        }
        guard welcome.header.type == .agentWelcome else {
            let error =
                (try? welcome.decode(ErrorBody.self)).map { "\($0.code): \($0.message)" }
                ?? welcome.header.type.rawValue
            throw BenchError("\(code): hello refused: \(error)")
        }
        let agentId = try welcome.decode(AgentWelcome.self).agentId
        factory = MessageFactory(sender: agentId)

        // PUB to ingest, with the SDK agent's options (SNDHWM 1,000, IMMEDIATE); wait for the handshake + 300 ms.
        var pubOptions = ZMQSocketOptions.agent(jitter: 100)
        pubOptions.linger = 0
        let publisher = try ZMQSocket(context: context, type: .pub, lingerMilliseconds: 0)
        defer { publisher.close() }
        let monitor = try ZMQMonitor(context: context, target: publisher)
        defer { monitor.socket.close() }
        try publisher.apply(pubOptions)
        try publisher.makeCurveClient(keyPair: keyPair, serverKey: serverKey)
        try publisher.connect(info.ingest)
        let handshakeDeadline = monotonic() + 10
        var handshaken = false
        while !handshaken && monotonic() < handshakeDeadline {
            var poller = ZMQPoller()
            poller.add(monitor.socket)
            _ = try poller.poll(timeoutMilliseconds: 50)
            while let event = try monitor.next() {
                if event.kind == .handshakeSucceeded { handshaken = true }
            }
        }
        guard handshaken else { throw BenchError("\(code): no ingest handshake within 10 s") }
        Thread.sleep(forTimeInterval: 0.3)

        let manifest = ServiceManifest(
            code: serviceCode,
            name: "Bench service \(index)",
            version: "1.0.0",
            runtime: "swift"
        )
        let report = ServiceReport(agentId: agentId, agentCode: code, services: [manifest])
        func publishReport() throws {
            try publisher.send(
                WireCodec.encode(topic: Topic.report(agentId), header: factory.sequenced(.serviceReport), body: report)
            )
        }
        try publishReport()
        welcomed.put(agentId)

        let topic = Topic.heartbeat(agentId)
        var sent = 0
        while true {
            switch control.phase {
            case .quit:
                control.slots[index].running.store(false, ordering: .releasing)
                return
            case .idle:
                control.slots[index].running.store(false, ordering: .releasing)
                try answerDealer(dealer, publishReport: publishReport, control: control)
                Thread.sleep(forTimeInterval: 0.005)
            case .run:
                control.slots[index].running.store(true, ordering: .releasing)
                for _ in 0..<256 {
                    let body = Heartbeat(
                        agentId: agentId,
                        agentCode: code,
                        manifestDigest: report.digest,
                        intervalSeconds: 30,
                        services: [
                            ServiceHealth(code: serviceCode, health: HealthReport(status: .up), sampledAt: Date())
                        ]
                    )
                    if try publisher.send(
                        WireCodec.encode(topic: topic, header: factory.sequenced(.heartbeat), body: body)
                    ) {
                        sent += 1
                    }
                }
                control.slots[index].sent.store(sent, ordering: .releasing)
                try answerDealer(dealer, publishReport: publishReport, control: control)
            }
        }
    }

    /// Re-publishes the report when the aggregator asks (a report lost on PUB); ignores anything else.
    private static func answerDealer(
        _ dealer: ZMQSocket,
        publishReport: () throws -> Void,
        control: AgentControl
    ) throws {
        while let message = try dealer.receive() {
            if let decoded = try? WireCodec.decode(message.frames, hasTopic: false),
                decoded.header.type == .reportRequest
            {
                try publishReport()
                control.countReportResent()
            }
        }
    }

    private static func receive(_ dealer: ZMQSocket, seconds: Double) throws -> WireMessage? {
        let deadline = monotonic() + seconds
        var poller = ZMQPoller()
        poller.add(dealer)
        while monotonic() < deadline {
            if let message = try dealer.receive() { return try WireCodec.decode(message.frames, hasTopic: false) }
            _ = try poller.poll(timeoutMilliseconds: 50)
        }
        return nil
    }
}

/// The heartbeat figure for one repetition.
struct HeartbeatRun {
    var processedPerSecond: Double
    var sent: Int
    var received: Int
    var brokerForwarded: Int
    var brokerDropped: [String: Int]
    var drainSeconds: Double
    var brokerCPU: Double  // cores used during the steady window
    var aggregatorCPU: Double
    /// The part of `brokerCPU` / `aggregatorCPU` spent on libzmq's I/O threads.
    var brokerZMQCPU: Double
    var aggregatorZMQCPU: Double
    var benchCPU: Double
    var statsLatency: Double
    var lost: Int { sent - received }
}

enum CapsuleHeartbeats {
    /// One repetition: agents publish for `warmup + seconds`; the processing rate is Δreceived/Δt over the
    /// steady window after warm-up; then the agents stop and the backlog drains (bounded) before the
    /// totals are taken for the loss figure.
    static func run(
        client: OperatorClient,
        control: AgentControl,
        cluster: BenchCluster,
        seconds: Double,
        warmup: Double
    ) throws -> HeartbeatRun {
        let brokerPID = cluster.broker!.processIdentifier
        let aggregatorPID = cluster.aggregator!.processIdentifier
        let selfPID = getpid()

        let sentBefore = control.totalSent
        let base = try client.aggregatorReceived()
        let brokerBase = try client.brokerCounts()

        control.set(.run)
        Thread.sleep(forTimeInterval: warmup)
        let first = try client.aggregatorReceived()
        let cpu1 = (cpuSeconds(pid: brokerPID) ?? 0, cpuSeconds(pid: aggregatorPID) ?? 0, cpuSeconds(pid: selfPID) ?? 0)
        let zmq1 = (zmqThreadCPUSeconds(pid: brokerPID), zmqThreadCPUSeconds(pid: aggregatorPID))
        Thread.sleep(forTimeInterval: seconds)
        let second = try client.aggregatorReceived()
        let cpu2 = (cpuSeconds(pid: brokerPID) ?? 0, cpuSeconds(pid: aggregatorPID) ?? 0, cpuSeconds(pid: selfPID) ?? 0)
        let zmq2 = (zmqThreadCPUSeconds(pid: brokerPID), zmqThreadCPUSeconds(pid: aggregatorPID))
        control.set(.idle)
        let stopDeadline = monotonic() + 10
        while control.anyRunning && monotonic() < stopDeadline { usleep(1_000) }
        let sent = control.totalSent - sentBefore
        let window = second.at - first.at

        // Drain: wait until the aggregator's count stops moving (two unchanged polls 300 ms apart), at most 30 s.
        let drainStart = monotonic()
        var last = second.received
        var unchanged = 0
        while unchanged < 2 && monotonic() - drainStart < 30 {
            Thread.sleep(forTimeInterval: 0.3)
            let now = try client.aggregatorReceived().received
            unchanged = now == last ? unchanged + 1 : 0
            last = now
        }
        let drainSeconds = monotonic() - drainStart
        let brokerEnd = try client.brokerCounts()
        var dropped: [String: Int] = [:]
        for (reason, value) in brokerEnd.dropped {
            let delta = value - (brokerBase.dropped[reason] ?? 0)
            if delta != 0 { dropped[reason] = delta }
        }
        return HeartbeatRun(
            processedPerSecond: Double(second.received - first.received) / window,
            sent: sent,
            received: last - base.received,
            brokerForwarded: brokerEnd.forwarded - brokerBase.forwarded,
            brokerDropped: dropped,
            drainSeconds: drainSeconds,
            brokerCPU: (cpu2.0 - cpu1.0) / window,
            aggregatorCPU: (cpu2.1 - cpu1.1) / window,
            brokerZMQCPU: (zmq2.0 - zmq1.0) / window,
            aggregatorZMQCPU: (zmq2.1 - zmq1.1) / window,
            benchCPU: (cpu2.2 - cpu1.2) / window,
            statsLatency: max(first.latency, second.latency)
        )
    }
}

enum CapsuleRoundTrip {
    /// Sequential requests from the operator DEALER through the broker's ROUTER, timed from encoding the
    /// request to decoding the reply; 50 warm-up requests are discarded. `status.list` and
    /// `aggregator.stats` go on to the aggregator and back (two hops); `broker.stats` is answered by the
    /// broker itself (one hop).
    static func measure(client: OperatorClient, service: String, op: String, requests: Int) throws -> [Double] {
        for _ in 0..<50 { _ = try client.call(service, op) }
        var samples: [Double] = []
        samples.reserveCapacity(requests)
        for _ in 0..<requests {
            let start = monotonic()
            _ = try client.call(service, op)
            samples.append((monotonic() - start) * 1e6)
        }
        return samples
    }
}

enum CodecCost {
    /// Microseconds to decode `body` (a reply's JSON) into a free-form ``JSONValue``, and its size.
    static func jsonValueDecode(_ value: JSONValue, iterations: Int) throws -> (micros: Double, bytes: Int) {
        let data = WireCodec.json(value)
        var sink = 0
        let start = monotonic()
        for _ in 0..<iterations {
            if case .array(let rows) = try WireCodec.fromJSON(JSONValue.self, data) { sink &+= rows.count }
        }
        let elapsed = monotonic() - start
        precondition(sink >= 0)
        return (elapsed / Double(iterations) * 1e6, data.count)
    }

    static func sampleHeartbeat() -> (topic: String, header: Header, body: Heartbeat) {
        let agentId = "agt_5d1c9e07a2b4"
        let header = Header(
            type: .heartbeat,
            id: UUID().uuidString,
            sender: agentId,
            ts: MessageFactory.millis(Date()),
            seq: 42
        )
        let body = Heartbeat(
            agentId: agentId,
            agentCode: "billing-host-1",
            manifestDigest: "9f3b2c41d07e6a85",
            intervalSeconds: 30,
            services: [ServiceHealth(code: "billing-bridge", health: HealthReport(status: .up), sampledAt: Date())]
        )
        return (Topic.heartbeat(agentId), header, body)
    }

    /// The three frames of a typical heartbeat, for the raw baseline's message shape.
    static func sampleFrames() -> [Data] {
        let sample = sampleHeartbeat()
        return WireCodec.encode(topic: sample.topic, header: sample.header, body: sample.body)
    }

    /// Microseconds per `WireCodec.encode(topic:header:body:)` of one heartbeat.
    static func encode(iterations: Int) -> Double {
        let sample = sampleHeartbeat()
        var bytes = 0
        let start = monotonic()
        for _ in 0..<iterations {
            bytes &+= WireCodec.encode(topic: sample.topic, header: sample.header, body: sample.body)[2].count
        }
        let elapsed = monotonic() - start
        precondition(bytes > 0)
        return elapsed / Double(iterations) * 1e6
    }

    /// The same frames read as before the parser: header and body through `JSONDecoder`.
    static func decodeWithJSONDecoder(iterations: Int) throws -> Double {
        let frames = sampleFrames()
        var services = 0
        let start = monotonic()
        for _ in 0..<iterations {
            _ = try WireCodec.decoder.decode(Header.self, from: frames[1])
            services &+= try WireCodec.decoder.decode(Heartbeat.self, from: frames[2]).services.count
        }
        let elapsed = monotonic() - start
        precondition(services == iterations)
        return elapsed / Double(iterations) * 1e6
    }

    /// Microseconds per `WireCodec.decode(_:hasTopic:)` plus `heartbeat()` (as the aggregator reads it) of one heartbeat
    /// (header and body through ``JSONParser``).
    static func decode(iterations: Int) throws -> Double {
        let frames = sampleFrames()
        var services = 0
        let start = monotonic()
        for _ in 0..<iterations {
            services &+= try WireCodec.decode(frames, hasTopic: true).heartbeat().services.count
        }
        let elapsed = monotonic() - start
        precondition(services == iterations)
        return elapsed / Double(iterations) * 1e6
    }
}
