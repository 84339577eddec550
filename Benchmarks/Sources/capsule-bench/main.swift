import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Synchronization

// capsule-bench: Capsule's figures, each beside raw libzmq measured in the same run (Benchmarks/README.md).

struct Options {
    var seconds = 5.0
    var warmup = 1.0
    var agents = 8
    var reps = 3
    var messages = 300_000
    var requests = 2_000
    var codecIterations = 100_000
    var nice: Int32 = 19
    var bin: URL?
    var keepHome = false
    var rawOnly = false
    var commands = 20_000
    var burst = 1_000
    var burstAgents = 100
    var backlog = 45_000
    var cliRuns = 30
    var ledgerCommands = 500
    var memorySeconds = 10.0
    var memoryBuilds: [(label: String, directory: URL)] = []

    static let usage = """
        usage: capsule-bench [--quick] [--seconds S] [--warmup S] [--agents K] [--reps R] [--messages N]
                             [--requests N] [--codec-iterations N] [--nice N] [--bin DIR] [--keep-home] [--raw-only]
          --seconds S           steady measuring window per heartbeat repetition (default 5)
          --warmup S            publishing before the window opens (default 1)
          --agents K            raw protocol-v1 agents, one thread each (default 8)
          --reps R              repetitions of every figure (default 3)
          --messages N          messages per raw libzmq throughput repetition (default 300000)
          --requests N          sequential round trips per repetition (default 2000)
          --codec-iterations N  encode/decode iterations per repetition (default 100000)
          --nice N              niceness of the agent threads, 0 to disable (default 19)
          --bin DIR             where capsule-broker, capsule-aggregator and capsulectl are (default: next to this binary)
          --keep-home           keep the temporary Capsule home (logs, databases) for inspection
          --raw-only            only the raw libzmq baselines and the codec
          --commands N          pipelined commands, audit writer live (default 20000)
          --burst N             commands in the burst figure (default 1000), over --burst-agents K agents (default 100)
          --backlog N           audit events the audit writer replays from the broker's journal (default 45000)
          --cli-runs N          capsulectl invocations per wall-clock figure (default 30)
          --ledger-commands N   commands timed through the SDK's ledger at each size (default 500)
          --memory-seconds S    heartbeating between the two memory readings (default 10)
          --build LABEL=DIR     a build whose bare process, SDK and sidecar the memory figures read (repeatable;
                                default: the --bin directory)
          --quick               --seconds 2 --messages 100000 --requests 500 --codec-iterations 20000 (and fewer commands)
        capsule-bench fleet --help: the fleet simulator (Benchmarks/fleet.sh, Benchmarks/README.md)
        capsule-bench memory [--bin DIR] [--build LABEL=DIR]… [--seconds S]: only the memory figures
        capsule-bench audit-postgres [--events N] [--bin DIR] [--keep-home]: the audit writer into PostgreSQL beside
                             raw batched inserts (COPY, multi-row INSERT) of the same rows into the same server (Benchmarks/README.md)
        """

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        func value() throws -> String {
            index += 1
            guard index < arguments.count else { throw BenchError("\(arguments[index - 1]) needs a value\n\(usage)") }
            return arguments[index]
        }
        func number<T: LosslessStringConvertible & Comparable>(_ type: T.Type, atLeast minimum: T) throws -> T {
            let name = arguments[index]
            guard let parsed = T(try value()), parsed >= minimum else {
                throw BenchError("\(name) needs a number ≥ \(minimum)")
            }
            return parsed
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--quick":
                options.seconds = 2
                options.messages = 100_000
                options.requests = 500
                options.codecIterations = 20_000
                options.commands = 5_000
                options.backlog = 10_000
                options.cliRuns = 10
                options.ledgerCommands = 200
                options.memorySeconds = 5
            case "--seconds": options.seconds = try number(Double.self, atLeast: 0.5)
            case "--warmup": options.warmup = try number(Double.self, atLeast: 0)
            case "--agents": options.agents = try number(Int.self, atLeast: 1)
            case "--reps": options.reps = try number(Int.self, atLeast: 1)
            case "--messages": options.messages = try number(Int.self, atLeast: 1_000)
            case "--requests": options.requests = try number(Int.self, atLeast: 10)
            case "--codec-iterations": options.codecIterations = try number(Int.self, atLeast: 100)
            case "--nice": options.nice = try number(Int32.self, atLeast: 0)
            case "--bin": options.bin = URL(fileURLWithPath: try value(), isDirectory: true)
            case "--keep-home": options.keepHome = true
            case "--raw-only": options.rawOnly = true
            case "--commands": options.commands = try number(Int.self, atLeast: 100)
            case "--burst": options.burst = try number(Int.self, atLeast: 10)
            case "--burst-agents": options.burstAgents = try number(Int.self, atLeast: 1)
            case "--backlog": options.backlog = try number(Int.self, atLeast: 500)
            case "--cli-runs": options.cliRuns = try number(Int.self, atLeast: 3)
            case "--ledger-commands": options.ledgerCommands = try number(Int.self, atLeast: 10)
            case "--memory-seconds": options.memorySeconds = try number(Double.self, atLeast: 1)
            case "--build": options.memoryBuilds.append(try MemoryCost.build(try value()))
            case "-h", "--help":
                print(usage)
                exit(0)
            default:
                throw BenchError("unknown argument \(arguments[index])\n\(usage)")
            }
            index += 1
        }
        return options
    }
}

/// SIGINT/SIGTERM end the daemons we started before exiting.
nonisolated(unsafe) var signalSources: [any DispatchSourceSignal] = []
func installSignalHandlers() {
    signal(SIGPIPE, SIG_IGN)
    for number in [SIGINT, SIGTERM] {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            progress("signal \(number): stopping the daemons")
            endStartedDaemons()
            if let home = homeToRemove.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: home) }
            exit(128 + number)
        }
        source.resume()
        signalSources.append(source)
    }
}

func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

func runBench(_ options: Options) throws {
    let (major, minor, patch) = ZMQContext.version
    let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    let startedAt = Date()
    let loadAtStart = loadAverage()
    var lines: [String] = []
    func emit(_ line: String = "") {
        lines.append(line)
    }

    // 5. Codec (also gives the frame shape for baseline B).
    let frames = CodecCost.sampleFrames()
    progress("codec: \(options.reps) × \(options.codecIterations) heartbeat encodes and decodes")
    var encodeCosts: [Double] = []
    var decodeCosts: [Double] = []
    var decoderCosts: [Double] = []
    var foldCosts: [Double] = []
    var binaryEncodeCosts: [Double] = []
    var binaryDecodeCosts: [Double] = []
    var binaryBytes = 0
    for _ in 0..<options.reps {
        encodeCosts.append(CodecCost.encode(iterations: options.codecIterations))
        decodeCosts.append(try CodecCost.decode(iterations: options.codecIterations))
        decoderCosts.append(try CodecCost.decodeWithJSONDecoder(iterations: options.codecIterations))
        foldCosts.append(FoldCost.fold(iterations: options.codecIterations))
        let binary = try CodecCost.binary(iterations: options.codecIterations)
        binaryEncodeCosts.append(binary.encode)
        binaryDecodeCosts.append(binary.decode)
        binaryBytes = binary.bytes
    }

    // The SDK's command ledger beside raw durable appends.
    progress("ledger: \(options.ledgerCommands) commands at 0, 5,000 and 10,000 held")
    let ledger = try LedgerCost.measure(commands: options.ledgerCommands)

    // 1. Raw CURVE PUB → SUB.
    var rawA: [Double] = []
    var rawALost = 0
    for rep in 1...options.reps {
        progress("raw A: CURVE PUB→SUB, \(options.messages) × 200 B, repetition \(rep)")
        let result = try RawBaselines.pubSub(messages: options.messages)
        rawA.append(result.rate)
        rawALost += result.lost
    }

    // 2. Raw PUB → XSUB/XPUB → SUB, three frames.
    var rawB: [Double] = []
    var rawBLost = 0
    for rep in 1...options.reps {
        progress("raw B: CURVE PUB→XSUB/XPUB→SUB, 3 frames, \(options.messages) messages, repetition \(rep)")
        let result = try RawBaselines.proxied(messages: options.messages, frames: frames)
        rawB.append(result.rate)
        rawBLost += result.lost
    }

    // 4 (raw side). DEALER → ROUTER echo, and the two-hop relay.
    var echoMedian: [Double] = []
    var echoP99: [Double] = []
    var relayMedian: [Double] = []
    var relayP99: [Double] = []
    for rep in 1...options.reps {
        progress("raw round trips: \(options.requests) echo + \(options.requests) relay, repetition \(rep)")
        let echo = try RawBaselines.echo(requests: options.requests)
        echoMedian.append(percentile(echo, 0.5))
        echoP99.append(percentile(echo, 0.99))
        let relay = try RawBaselines.relay(requests: options.requests)
        relayMedian.append(percentile(relay, 0.5))
        relayP99.append(percentile(relay, 0.99))
    }

    // 3 and 4 (Capsule side).
    var heartbeatRuns: [HeartbeatRun] = []
    var capsuleMedian: [Double] = []
    var capsuleP99: [Double] = []
    var statsMedian: [Double] = []
    var replyDecode: (micros: Double, bytes: Int)?
    var statsP99: [Double] = []
    var brokerMedian: [Double] = []
    var brokerP99: [Double] = []
    var agentNote = ""
    if !options.rawOnly {
        let bin =
            options.bin
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let cluster = try BenchCluster(bin: bin, keepHome: options.keepHome)
        defer { cluster.stop() }
        progress(
            "starting capsule-broker and capsule-aggregator (home \(cluster.home.path), ports \(cluster.ports.ingest)/\(cluster.ports.bus)/\(cluster.ports.router))"
        )
        try cluster.start()
        let client = try OperatorClient(home: cluster.capsuleHome)
        var aggregatorUp = false
        try cluster.waitFor("the aggregator to answer aggregator.stats", seconds: 30) {
            if (try? client.aggregatorReceived()) != nil { aggregatorUp = true }
            return aggregatorUp
        }

        progress("minting \(options.agents) tokens with capsulectl and enrolling \(options.agents) agents")
        let control = AgentControl(agents: options.agents)
        var threads: [BenchThread] = []
        defer {
            control.set(.quit)
            for thread in threads { try? thread.join(seconds: 5) }
        }
        for index in 0..<options.agents {
            let token = try cluster.mintToken(name: "bench-\(index)")
            let welcomed = Handoff<String>()
            threads.append(
                BenchAgent.start(
                    index: index,
                    home: cluster.capsuleHome,
                    token: token,
                    nice: options.nice,
                    control: control,
                    welcomed: welcomed
                )
            )
            do {
                _ = try welcomed.take(seconds: 20, what: "agent \(index) to be welcomed and connected")
            } catch {
                try? threads.last?.join(seconds: 1)  // surfaces the agent's own error if it has one
                throw error
            }
        }
        // Let the reports land and the board settle before measuring.
        try cluster.waitFor("the aggregator to know every bench service", seconds: 15) {
            let summary = try client.call("aggregator", "status.summary")
            return (summary["totalServices"]?.intValue ?? 0) >= options.agents
        }

        for rep in 1...options.reps {
            progress(
                "capsule heartbeats: \(options.agents) agents, \(options.warmup) s warm-up + \(options.seconds) s window, repetition \(rep)"
            )
            heartbeatRuns.append(
                try CapsuleHeartbeats.run(
                    client: client,
                    control: control,
                    cluster: cluster,
                    seconds: options.seconds,
                    warmup: options.warmup
                )
            )
            let last = heartbeatRuns.last!
            progress(
                String(
                    format: "  processed %@ msgs/s; sent %@, received %@, drained in %.1f s",
                    rate(last.processedPerSecond),
                    count(last.sent),
                    count(last.received),
                    last.drainSeconds
                )
            )
        }
        if control.reportsResent > 0 {
            agentNote = "; the aggregator asked for \(control.reportsResent) re-reports"
        }

        let statusRows = try client.call("aggregator", "status.list")
        replyDecode = try CodecCost.jsonValueDecode(statusRows, iterations: 2_000)
        for rep in 1...options.reps {
            progress(
                "capsule round trips: \(options.requests) status.list, aggregator.stats and broker.stats, repetition \(rep)"
            )
            let samples = try CapsuleRoundTrip.measure(
                client: client,
                service: "aggregator",
                op: "status.list",
                requests: options.requests
            )
            capsuleMedian.append(percentile(samples, 0.5))
            capsuleP99.append(percentile(samples, 0.99))
            let small = try CapsuleRoundTrip.measure(
                client: client,
                service: "aggregator",
                op: "aggregator.stats",
                requests: options.requests
            )
            statsMedian.append(percentile(small, 0.5))
            statsP99.append(percentile(small, 0.99))
            let oneHop = try CapsuleRoundTrip.measure(
                client: client,
                service: "broker",
                op: "broker.stats",
                requests: options.requests
            )
            brokerMedian.append(percentile(oneHop, 0.5))
            brokerP99.append(percentile(oneHop, 0.99))
        }
    }

    // Commands at wire speed, the audit writer's replay and the CLI (issue 11).
    var commandLines: [String] = []
    if !options.rawOnly {
        let bin =
            options.bin
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        commandLines = try CommandSuite.run(
            options: options,
            bin: bin,
            relayMedian: percentile(relayMedian, 0.5),
            relayP99: percentile(relayP99, 0.5),
            echoMedian: percentile(echoMedian, 0.5)
        )
        // The SDK's and the sidecar's memory beside a bare Swift process of the same build.
        commandLines += try MemoryCost.run(
            bin: bin,
            builds: options.memoryBuilds.isEmpty ? [("this build", bin)] : options.memoryBuilds,
            seconds: options.memorySeconds,
            keepHome: options.keepHome
        )
    }

    // The table.
    let formatter = ISO8601DateFormatter()
    emit("capsule-bench  \(formatter.string(from: startedAt))")
    emit(
        "machine: \(cores) cores (nproc), libzmq \(major).\(minor).\(patch), load average at start \(loadAtStart); other processes may be running"
    )
    emit(
        "every figure: \(options.reps) repetitions, median (min, max); raw libzmq baselines measured in this same run, tcp://127.0.0.1, CURVE"
    )
    emit("")
    let sizes = frames.map { "\($0.count)" }.joined(separator: "+")
    let rawBText = "raw libzmq PUB→XSUB/XPUB→SUB CURVE 3 frames (\(sizes) B) \(rateSummary(Summary(values: rawB)))"
    if heartbeatRuns.isEmpty {
        emit("heartbeat path      capsule (skipped)  |  \(rawBText)")
    } else {
        let processed = Summary(values: heartbeatRuns.map(\.processedPerSecond))
        emit("heartbeat path      capsule \(rateSummary(processed))  |  \(rawBText)")
        let sent = heartbeatRuns.map(\.sent).reduce(0, +)
        let received = heartbeatRuns.map(\.received).reduce(0, +)
        let forwarded = heartbeatRuns.map(\.brokerForwarded).reduce(0, +)
        var dropped: [String: Int] = [:]
        for run in heartbeatRuns { for (reason, value) in run.brokerDropped { dropped[reason, default: 0] += value } }
        let lost = sent - received
        let lossPercent = sent > 0 ? Double(lost) / Double(sent) * 100 : 0
        emit(
            "  \(options.agents) raw agents (1 service, UP, SNDHWM 1000, nice \(options.nice)), \(Int(options.seconds)) s window after \(options.warmup) s warm-up, Δreceived/Δt from aggregator.stats"
        )
        emit(
            "  all repetitions: sent \(count(sent)) (zmq_send ok), broker forwarded \(count(forwarded)), aggregator received \(count(received)); lost \(count(lost)) (\(String(format: "%.1f", lossPercent)) %)\(agentNote)"
        )
        let dropText =
            dropped.isEmpty
            ? "none" : dropped.sorted { $0.key < $1.key }.map { "\($0.key) \(count($0.value))" }.joined(separator: ", ")
        emit(
            "  lost before the broker (agent PUB at HWM / ingest backlog) ≈ \(count(sent - forwarded - dropped.values.reduce(0, +))); broker drops: \(dropText); bus→aggregator ≈ \(count(max(0, forwarded - received))) (forwarded also counts the aggregator's own beacons, 1/s)"
        )
        let cpu = { (values: [Double]) in String(format: "%.2f", percentile(values, 0.5)) }
        // CPU microseconds per processed heartbeat, per repetition, then the median.
        let perMessage = { (cores: KeyPath<HeartbeatRun, Double>) in
            String(
                format: "%.1f",
                percentile(heartbeatRuns.map { $0[keyPath: cores] / $0.processedPerSecond * 1e6 }, 0.5)
            )
        }
        let split = { (total: KeyPath<HeartbeatRun, Double>, zmq: KeyPath<HeartbeatRun, Double>) in
            String(
                format: "libzmq's I/O thread %.1f, its own threads %.1f",
                percentile(heartbeatRuns.map { $0[keyPath: zmq] / $0.processedPerSecond * 1e6 }, 0.5),
                percentile(
                    heartbeatRuns.map { ($0[keyPath: total] - $0[keyPath: zmq]) / $0.processedPerSecond * 1e6 },
                    0.5
                )
            )
        }
        emit(
            "  CPU during the window (cores, median): broker \(cpu(heartbeatRuns.map(\.brokerCPU))) (\(perMessage(\.brokerCPU)) µs/msg), aggregator \(cpu(heartbeatRuns.map(\.aggregatorCPU))) (\(perMessage(\.aggregatorCPU)) µs/msg), bench process with the agents \(cpu(heartbeatRuns.map(\.benchCPU))); backlog drained \(String(format: "%.1f", percentile(heartbeatRuns.map(\.drainSeconds), 0.5))) s after stop"
        )
        emit(
            "  µs per heartbeat, split by thread: broker \(split(\.brokerCPU, \.brokerZMQCPU)); aggregator \(split(\.aggregatorCPU, \.aggregatorZMQCPU)) (target: its own ≤ 5 µs; its own threads also make the libzmq calls that receive and send)"
        )
    }
    emit(
        "raw PUB→SUB         raw libzmq CURVE PUB→SUB 1 frame 200 B, HWM 0: \(rateSummary(Summary(values: rawA)))"
            + (rawALost > 0 ? "; lost \(count(rawALost))" : ", none lost")
            + (rawBLost > 0 ? " (proxied path lost \(count(rawBLost)))" : "")
    )
    let capsuleRTT =
        capsuleMedian.isEmpty
        ? "capsule (skipped)"
        : "capsule status.list median \(microSummary(Summary(values: capsuleMedian))), p99 \(micros(percentile(capsuleP99, 0.5)))"
    emit(
        "request round trip  \(capsuleRTT)  |  raw CURVE DEALER→ROUTER echo median \(microSummary(Summary(values: echoMedian))), p99 \(micros(percentile(echoP99, 0.5)))"
    )
    emit(
        "                    (\(options.requests) sequential per repetition; status.list is 2 hops: DEALER→broker→aggregator→broker→DEALER)  |  raw 2-hop DEALER→ROUTER relay→worker echo median \(microSummary(Summary(values: relayMedian))), p99 \(micros(percentile(relayP99, 0.5)))"
    )
    if !statsMedian.isEmpty {
        if let replyDecode {
            emit(
                "  status.list reply result is \(count(replyDecode.bytes)) B of JSON (\(options.agents) rows); decoding it into a JSONValue takes \(micros(replyDecode.micros)) in this process"
            )
        }
        emit(
            "  breakdown: capsule aggregator.stats (2 hops, small reply) median \(microSummary(Summary(values: statsMedian))), p99 \(micros(percentile(statsP99, 0.5))); broker.stats (1 hop, answered by the broker) median \(microSummary(Summary(values: brokerMedian))), p99 \(micros(percentile(brokerP99, 0.5)))"
        )
    }
    emit(
        "codec (1 heartbeat) WireCodec.encode(topic:header:body:) \(microSummary(Summary(values: encodeCosts))) per op; decode + Heartbeat body \(microSummary(Summary(values: decodeCosts))) per op (JSONParser), the same frames through JSONDecoder \(microSummary(Summary(values: decoderCosts)))  (\(options.codecIterations) iterations; zmq-notes: JSONEncoder 5.1 / JSONDecoder 7.4 µs)"
    )
    emit(
        "  the same header and body in a compact binary encoding (BinaryCodec, not on the wire): encode \(microSummary(Summary(values: binaryEncodeCosts))), decode \(microSummary(Summary(values: binaryDecodeCosts))); \(binaryBytes) B against JSON's \(frames[1].count + frames[2].count) B"
    )
    emit(
        "board fold (1 heartbeat, 2 services, into 1,000 reported agents) StatusBoard.apply \(microSummary(Summary(values: foldCosts))) per op"
    )
    emit(
        "SDK command ledger (begin + finish, each line fdatasync'd) "
            + ledger.ledger.map { "\(micros($0.micros)) with \(count($0.held)) held" }.joined(separator: ", ")
            + " per command  |  raw: the same two appends (write + fdatasync) \(micros(ledger.raw)); target: flat from 0 to 10,000"
    )
    lines += commandLines
    print(lines.joined(separator: "\n"))
}

installSignalHandlers()
do {
    // Subcommands: the fleet simulator's driver, its worker processes and its raw baseline server;
    // the audit writer into PostgreSQL.
    let arguments = Array(CommandLine.arguments.dropFirst())
    switch arguments.first {
    case "fleet":
        try Fleet.main(Array(arguments.dropFirst()))
        endStartedDaemons()
        exit(0)
    case "fleet-worker":
        try FleetWorker.main(Array(arguments.dropFirst()))
    case "fleet-raw-server":
        try FleetRawServer.main(Array(arguments.dropFirst()))
    case "memory":
        try MemoryCost.main(Array(arguments.dropFirst()))
        endStartedDaemons()
        exit(0)
    case "audit-postgres":
        try AuditPostgresBench.main(Array(arguments.dropFirst()))
        endStartedDaemons()
        exit(0)
    default:
        break
    }
    let options = try Options.parse(arguments)
    try runBench(options)
    endStartedDaemons()
} catch {
    endStartedDaemons()
    FileHandle.standardError.write(Data("capsule-bench: \(error)\n".utf8))
    exit(1)
}
