import CZeroMQ
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Synchronization

// `capsule-bench fleet`: the fleet simulator's driver (Benchmarks/README.md, "Fleet simulator").
//
// It runs two phases in one run. First the raw baseline: `fleet-raw-server` (plain libzmq CURVE
// ROUTER + XSUB) and the same number of simulated agents in `--raw` mode, with the same sockets and
// the same traffic. Then Capsule: the release broker, aggregator and audit writer on a temporary home,
// tokens minted through one request client, and the simulated fleet enrolling with them. Every figure
// is printed beside the raw one. Workers run at `--nice` (10 by default) so the daemons get the cores.

struct FleetOptions {
    var agents = 1_000
    var services = 2
    var heartbeat = 5.0
    var stale = 15.0
    var offline = 25.0
    var agentsPerProcess = 2_000
    var shards = 2
    var ioThreads = 2
    var connectRate = 400.0
    var window = 30.0
    var sample = 5.0
    var nice: Int32 = 10
    var zmtp: (Int32, Int32, Int32)? = (10_000, 30_000, 0)
    var reconnect: (Int32, Int32) = (1_000, 5_000)
    var flip = 0.1
    var churn = 0.05
    var commands = 200
    var downSeconds = 1.0
    var queries = 3
    var skipRaw = false
    var skipCapsule = false
    var keepHome = false
    var perf = false
    var brokerIOThreads = 1
    var bin: URL?

    static let usage = """
        usage: capsule-bench fleet [--agents N] [--services S] [--heartbeat S] [--stale S] [--offline S]
                                   [--agents-per-process N] [--shards N] [--io-threads N] [--connect-rate R]
                                   [--window S] [--sample S] [--nice N] [--zmtp-heartbeat IVL,TIMEOUT,TTL|off]
                                   [--reconnect-ivl MIN-MAX] [--flip F] [--churn F] [--commands N] [--down-seconds S]
                                   [--queries N] [--skip-raw] [--skip-capsule] [--keep-home] [--perf]
                                   [--broker-io-threads N] [--bin DIR]
          --agents N              simulated agents (default 1000)
          --services S            services per agent (default 2)
          --heartbeat S           heartbeat cadence, broker --heartbeat-seconds (default 5)
          --stale S, --offline S  the daemons' thresholds (default 15 and 25)
          --agents-per-process N  agents per worker process (default 2000; 20,000 files per process here)
          --shards N              threads per worker, each owning its agents' sockets (default 2)
          --io-threads N          libzmq I/O threads per worker (default 2)
          --connect-rate R        agents started per second across the fleet (default 400; ~1,600 CURVE handshakes/s here)
          --window S              steady-state measuring window (default 30)
          --sample S              timeline line every S seconds (default 5)
          --nice N                niceness of the worker processes (default 10; 0 = same as the daemons)
          --zmtp-heartbeat V      agents' ZMTP heartbeat IVL,TIMEOUT,TTL in ms (TTL 0: none), or off (default 10000,30000,0 = ZMQSocketOptions.agent())
          --reconnect-ivl MIN-MAX agents' RECONNECT_IVL drawn per socket in ms (default 1000-5000; RECONNECT_IVL_MAX 30000)
          --flip F                fraction of services turned DOWN and back (default 0.1; 0 skips)
          --churn F               fraction of agents killed and restarted (default 0.05; 0 skips)
          --commands N            commands in the burst (default 200; 0 skips)
          --down-seconds S        how long the broker (and raw server) stay down after SIGKILL (default 1)
          --queries N             repetitions of each operator query (default 3)
          --skip-raw, --skip-capsule  run one phase only
          --keep-home             keep the temporary home (daemon and worker logs)
          --perf                  record `perf record -g` of the broker during the steady window (needs perf)
          --broker-io-threads N   libzmq I/O threads of the broker and of the raw server (default 1)
          --bin DIR               where the daemons, capsulectl and capsule-bench are (default: next to this binary)
        """

    static func parseZMTP(_ text: String) throws -> (Int32, Int32, Int32)? {
        if text == "off" || text == "0" { return nil }
        let parts = text.split(separator: ",").compactMap { Int32($0) }
        guard parts.count == 3 else { throw BenchError("--zmtp-heartbeat takes IVL,TIMEOUT,TTL in ms, or off") }
        return (parts[0], parts[1], parts[2])
    }

    static func parseRange(_ text: String) throws -> (Int32, Int32) {
        let parts = text.split(separator: "-").compactMap { Int32($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] >= parts[0] else {
            throw BenchError("--reconnect-ivl takes MIN-MAX in ms")
        }
        return (parts[0], parts[1])
    }

    static func parse(_ arguments: [String]) throws -> FleetOptions {
        var o = FleetOptions()
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < arguments.count else { throw BenchError("\(arguments[i - 1]) needs a value\n\(usage)") }
            return arguments[i]
        }
        func number<T: LosslessStringConvertible & Comparable>(_ type: T.Type, atLeast minimum: T) throws -> T {
            let name = arguments[i]
            guard let v = T(try value()), v >= minimum else { throw BenchError("\(name) needs a number ≥ \(minimum)") }
            return v
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--agents": o.agents = try number(Int.self, atLeast: 1)
            case "--services": o.services = try number(Int.self, atLeast: 1)
            case "--heartbeat": o.heartbeat = try number(Double.self, atLeast: 0.5)
            case "--stale": o.stale = try number(Double.self, atLeast: 1)
            case "--offline": o.offline = try number(Double.self, atLeast: 1)
            case "--agents-per-process": o.agentsPerProcess = try number(Int.self, atLeast: 1)
            case "--shards": o.shards = try number(Int.self, atLeast: 1)
            case "--io-threads": o.ioThreads = try number(Int.self, atLeast: 1)
            case "--connect-rate": o.connectRate = try number(Double.self, atLeast: 1)
            case "--window": o.window = try number(Double.self, atLeast: 2)
            case "--sample": o.sample = try number(Double.self, atLeast: 0.5)
            case "--nice": o.nice = try number(Int32.self, atLeast: 0)
            case "--zmtp-heartbeat": o.zmtp = try parseZMTP(try value())
            case "--reconnect-ivl": o.reconnect = try parseRange(try value())
            case "--flip": o.flip = try number(Double.self, atLeast: 0)
            case "--churn": o.churn = try number(Double.self, atLeast: 0)
            case "--commands": o.commands = try number(Int.self, atLeast: 0)
            case "--down-seconds": o.downSeconds = try number(Double.self, atLeast: 0)
            case "--queries": o.queries = try number(Int.self, atLeast: 1)
            case "--skip-raw": o.skipRaw = true
            case "--skip-capsule": o.skipCapsule = true
            case "--keep-home": o.keepHome = true
            case "--perf": o.perf = true
            case "--broker-io-threads": o.brokerIOThreads = try number(Int.self, atLeast: 1)
            case "--bin": o.bin = URL(fileURLWithPath: try value(), isDirectory: true)
            case "-h", "--help":
                print(usage)
                exit(0)
            default: throw BenchError("unknown argument \(arguments[i])\n\(usage)")
            }
            i += 1
        }
        guard o.stale <= o.offline else { throw BenchError("--stale must not exceed --offline") }
        return o
    }

    var processes: Int { (agents + agentsPerProcess - 1) / agentsPerProcess }
    var zmtpText: String { zmtp.map { "\($0.0),\($0.1),\($0.2)" } ?? "off" }
}

/// What one phase measured; the table prints the Capsule and raw values side by side.
struct PhaseFigures {
    var agents = 0
    var settle: Double?  // first connect → every agent welcomed (raw: replied) and its PUB up
    var healthy: Double?  // first connect → every service HEALTHY (Capsule only)
    var routed: Int?  // broker route table (Capsule only)
    var welcomed = 0
    var serverCPU: Double?  // steady window, % of one core
    var aggregatorCPU: Double?
    var auditCPU: Double?
    var simCPU: Double?
    var serverRSSIdle: Int?  // KiB, before any agent
    var serverRSS: Int?  // KiB, steady
    var aggregatorRSS: Int?
    var auditRSS: Int?
    var heartbeatsPerSecond: Double?
    var reconnectWelcomed: Double?  // restart → every agent welcomed again
    var reconnectHeartbeats: Double?  // restart → every agent's heartbeat seen past the server
    var reconnectHealthy: Double?  // restart → every service HEALTHY (Capsule)
    var minHealthyDuring: Int?
    var reconnectCPU: Double?
    var disconnectedTwice: Int?
    var maxDisconnects: Int?
    var reconnectCurve: [(Double, Int, Int)] = []  // (s after restart, welcomed, heartbeats seen)
    var perSecondWelcomed: [Double] = []
    var notes: [String] = []
    var pressure: [String: String] = [:]
    var perAgentKiB: Double? {
        guard let idle = serverRSSIdle, let steady = serverRSS, agents > 0 else { return nil }
        return Double(steady - idle) / Double(agents)
    }
}

final class FleetDriver {
    let options: FleetOptions
    let bin: URL
    let home: URL
    var lines: [String] = []
    var children: [FleetChild] = []
    let t0 = monotonic()

    init(options: FleetOptions) throws {
        self.options = options
        bin =
            options.bin
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for tool in ["capsule-broker", "capsule-aggregator", "capsule-audit", "capsulectl", "capsule-bench"]
        where !FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent(tool).path) {
            throw BenchError("\(tool) not found in \(bin.path); Benchmarks/fleet.sh builds them into one scratch path")
        }
        home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsule-fleet-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        if !options.keepHome { homeToRemove.withLock { [path = home.path] in $0 = path } }
    }

    /// Timeline lines go to stdout as they happen; the table comes at the end.
    func timeline(_ text: String) {
        let line = String(format: "%7.1f  ", monotonic() - t0) + text
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func stopChildren() {
        for child in children { child.stop(seconds: 10) }
        children.removeAll()
    }

    /// Worker process arguments shared by both phases.
    func workerArguments(index: Int, first: Int, count: Int) -> [String] {
        var a = [
            "fleet-worker", "--index", "\(index)", "--first", "\(first)", "--count", "\(count)",
            "--services", "\(options.services)", "--heartbeat", "\(options.heartbeat)", "--shards", "\(options.shards)",
            "--io-threads", "\(options.ioThreads)",
            "--connect-rate", "\(options.connectRate / Double(options.processes))",
            "--zmtp-heartbeat", options.zmtpText, "--reconnect-ivl", "\(options.reconnect.0)-\(options.reconnect.1)",
            "--max-seconds", "3600",
        ]
        if options.processes > 0 { a += [] }
        return a
    }

    func startWorkers(extra: (Int) -> [String], prefix: String) throws -> [FleetChild] {
        var workers: [FleetChild] = []
        for w in 0..<options.processes {
            let first = w * options.agentsPerProcess
            let count = min(options.agentsPerProcess, options.agents - first)
            let child = try FleetChild(
                name: "\(prefix)-\(w)",
                executable: bin.appendingPathComponent("capsule-bench"),
                arguments: workerArguments(index: w, first: first, count: count) + extra(w),
                nice: options.nice,
                logFile: home.appendingPathComponent("\(prefix)-\(w).log")
            )
            workers.append(child)
            children.append(child)
        }
        return workers
    }

    func total(_ workers: [FleetChild]) -> ShardStats {
        var sum = ShardStats()
        for worker in workers { if let s = worker.decode(ShardStats.self) { sum.add(s) } }
        return sum
    }

    func send(_ workers: [FleetChild], _ line: String) { for w in workers { w.send(line) } }

    /// Polls `condition` every 0.25 s for at most `seconds`, printing a timeline line every `sample` s.
    /// Returns the seconds it took, or nil on timeout.
    func waitUntil(_ what: String, seconds: Double, line: () -> String, _ condition: () -> Bool) -> Double? {
        let start = monotonic()
        var lastLine = start
        while monotonic() - start < seconds {
            if condition() {
                timeline("\(what): \(String(format: "%.1f", monotonic() - start)) s  \(line())")
                return monotonic() - start
            }
            if monotonic() - lastLine >= options.sample {
                lastLine = monotonic()
                timeline(line())
            }
            usleep(250_000)
        }
        timeline("\(what): NOT reached within \(Int(seconds)) s  \(line())")
        return nil
    }

    var enrolBound: Double { max(120, Double(options.agents) / options.connectRate * 4 + 60) }

    // MARK: Raw phase

    func runRaw() throws -> PhaseFigures {
        var f = PhaseFigures()
        f.agents = options.agents
        let keyPair = try CurveKeyPair.generate()
        let routerPort = LoopbackPort.free()
        var ingestPort = LoopbackPort.free()
        while ingestPort == routerPort { ingestPort = LoopbackPort.free() }
        let router = "tcp://127.0.0.1:\(routerPort)"
        let ingest = "tcp://127.0.0.1:\(ingestPort)"
        func startServer(_ n: Int, countDistinct: Bool) throws -> FleetChild {
            let child = try FleetChild(
                name: "raw-server",
                executable: bin.appendingPathComponent("capsule-bench"),
                arguments: [
                    "fleet-raw-server", "--router-bind", router, "--ingest-bind", ingest,
                    "--secret", keyPair.secretKey.z85, "--io-threads", "\(options.brokerIOThreads)",
                ] + (countDistinct ? ["--count-distinct"] : []),
                nice: 0,
                logFile: home.appendingPathComponent("raw-server-\(n).log")
            )
            children.append(child)
            return child
        }
        var server = try startServer(0, countDistinct: false)
        Thread.sleep(forTimeInterval: 1)
        f.serverRSSIdle = rssKiB(pid: server.pid)
        timeline(
            "raw: server pid \(server.pid) on \(router) / \(ingest), RSS \(kib(f.serverRSSIdle)); \(options.processes) worker processes at nice \(options.nice)"
        )
        let workers = try startWorkers(
            extra: { _ in ["--raw", "--router", router, "--ingest", ingest, "--server-key", keyPair.publicKey.z85] },
            prefix: "raw-worker"
        )
        let n = options.agents
        let statusLine = { () -> String in
            let s = self.total(workers)
            return
                "raw: started \(s.started) dealer up \(s.dealerUp) replied \(s.welcomed) pub up \(s.pubUp) hb sent \(s.hbSent) server RSS \(kib(rssKiB(pid: server.pid)))"
        }
        f.settle = waitUntil(
            "raw: every agent connected (DEALER replied, PUB handshaken)",
            seconds: enrolBound,
            line: statusLine
        ) {
            let s = total(workers)
            return s.welcomed >= n && s.pubUp >= n
        }
        // Let one full heartbeat round pass before the window.
        Thread.sleep(forTimeInterval: options.heartbeat + 1)
        let workerPIDs = workers.map(\.pid)
        let before = server.decode(RawServerStats.self)
        var cpu = CPUWindow([server.pid] + workerPIDs)
        let hb0 = total(workers).hbSent
        timeline("raw: steady window \(Int(options.window)) s")
        let rawPressure = PressureWindow()
        Thread.sleep(forTimeInterval: options.window)
        f.pressure["steady"] = rawPressure.text
        f.serverCPU = cpu.percent(server.pid)
        f.simCPU = cpu.percent(workerPIDs)
        f.heartbeatsPerSecond = Double(total(workers).hbSent - hb0) / cpu.elapsed
        f.serverRSS = rssKiB(pid: server.pid)
        let after = server.decode(RawServerStats.self)
        let s = total(workers)
        f.welcomed = s.welcomed
        if let before, let after {
            f.notes.append(
                String(
                    format: "raw server took %.0f ingest msgs/s during the window",
                    Double(after.ingest - before.ingest) / options.window
                )
            )
        }
        timeline(
            String(
                format:
                    "raw: steady: server %.1f %% of a core, RSS %@ (%.1f KiB per agent over idle); simulator %.1f %%",
                f.serverCPU ?? .nan,
                kib(f.serverRSS),
                f.perAgentKiB ?? .nan,
                f.simCPU ?? .nan
            )
        )

        // SIGKILL the raw server, restart it on the same ports and key, and follow the reconnect.
        send(workers, "mark")
        Thread.sleep(forTimeInterval: 0.6)
        timeline("raw: SIGKILL raw server, down \(options.downSeconds) s")
        server.sigkill()
        children.removeAll { $0 === server }
        Thread.sleep(forTimeInterval: options.downSeconds)
        server = try startServer(1, countDistinct: true)
        let restartAt = monotonic()
        let reconnectPressure = PressureWindow()
        cpu.reset([server.pid])
        var curve: [(Double, Int, Int)] = []
        var welcomedAt: Double?
        var heartbeatsAt: Double?
        while monotonic() - restartAt < 90 {
            let t = monotonic() - restartAt
            let s = total(workers)
            let seen = server.decode(RawServerStats.self)?.distinct ?? 0
            if curve.isEmpty || t - curve.last!.0 >= 1 { curve.append((t, s.welcomed, seen)) }
            if welcomedAt == nil && s.welcomed >= n && s.pubUp >= n { welcomedAt = t }
            if heartbeatsAt == nil && seen >= n { heartbeatsAt = t }
            if welcomedAt != nil && heartbeatsAt != nil { break }
            usleep(250_000)
        }
        f.reconnectCPU = cpu.percent(server.pid)
        f.pressure["reconnect"] = reconnectPressure.text
        f.reconnectWelcomed = welcomedAt
        f.reconnectHeartbeats = heartbeatsAt
        f.reconnectCurve = curve
        Thread.sleep(forTimeInterval: 1)
        let end = total(workers)
        f.disconnectedTwice = end.disconnectedTwice
        f.maxDisconnects = end.maxDisconnects
        timeline(
            "raw: reconnect: every agent replied again after \(seconds(welcomedAt)), every heartbeat seen after \(seconds(heartbeatsAt)); agents disconnected twice: \(end.disconnectedTwice)"
        )
        for w in workers { w.stop() }
        children.removeAll { c in workers.contains { $0 === c } }
        server.stop()
        children.removeAll { $0 === server }
        return f
    }

    // MARK: Capsule phase

    final class Daemons {
        let bin: URL
        let home: URL
        let options: FleetOptions
        let ports: (Int, Int, Int)
        var broker: Process?
        var aggregator: Process?
        var audit: Process?
        var brokerStarts = 0

        init(bin: URL, home: URL, options: FleetOptions) {
            self.bin = bin
            self.home = home.appendingPathComponent("capsule")
            self.options = options
            var chosen: [Int] = []
            while chosen.count < 3 {
                let p = LoopbackPort.free()
                if !chosen.contains(p) { chosen.append(p) }
            }
            ports = (chosen[0], chosen[1], chosen[2])
        }

        var capsuleHome: CapsuleHome { CapsuleHome(path: home.path) }
        var thresholds: [String] {
            [
                "--heartbeat-seconds", "\(options.heartbeat)", "--stale-seconds", "\(options.stale)",
                "--offline-seconds", "\(options.offline)",
            ]
        }

        func launch(_ name: String, _ tool: String, _ arguments: [String]) throws -> Process {
            let process = Process()
            process.executableURL = bin.appendingPathComponent(tool)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAPSULE_") }
            let log = home.deletingLastPathComponent().appendingPathComponent("\(name).log")
            if !FileManager.default.fileExists(atPath: log.path) {
                _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: log)
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            startedDaemons.withLock { $0.append(process.processIdentifier) }
            return process
        }

        func startBroker() throws {
            brokerStarts += 1
            // The operator's per-key rate is raised so minting and the command burst are not throttled;
            // agents (one message per 5 s) are far below either value.
            // The bus watcher is a measuring probe: an internal-service key the broker is told to trust
            // (the bus is closed to operators).
            let probe = try capsuleHome.loadOrCreateKeyPair("bench-probe")
            broker = try launch(
                "broker",
                "capsule-broker",
                [
                    "--home", home.path, "--trust-service", "bench-probe=\(probe.publicKey.z85)",
                    "--ingest-bind", "tcp://127.0.0.1:\(ports.0)", "--bus-bind", "tcp://127.0.0.1:\(ports.1)",
                    "--router-bind", "tcp://127.0.0.1:\(ports.2)", "--max-messages-per-second", "5000",
                    "--burst-messages", "10000", "--io-threads", "\(options.brokerIOThreads)",
                    "--log-level", "warning",
                ] + thresholds
            )
        }

        func start() throws {
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            try startBroker()
            let deadline = monotonic() + 30
            while monotonic() < deadline {
                if FileManager.default.fileExists(atPath: capsuleHome.brokerInfoFile.path)
                    && FileManager.default.fileExists(atPath: capsuleHome.keyFile("operator").path)
                {
                    break
                }
                usleep(100_000)
            }
            aggregator = try launch(
                "aggregator",
                "capsule-aggregator",
                ["--home", home.path, "--log-level", "warning"] + thresholds
            )
            audit = try launch("audit", "capsule-audit", ["--home", home.path, "--log-level", "warning"])
        }

        func killBroker() {
            guard let broker else { return }
            let pid = broker.processIdentifier
            kill(pid, SIGKILL)
            broker.waitUntilExit()
            startedDaemons.withLock { $0.removeAll { $0 == pid } }
        }

        var pids: (broker: Int32, aggregator: Int32, audit: Int32) {
            (broker?.processIdentifier ?? 0, aggregator?.processIdentifier ?? 0, audit?.processIdentifier ?? 0)
        }
    }

    func runCapsule(rawFigures: PhaseFigures?) throws -> (PhaseFigures, CapsuleExtras) {
        var f = PhaseFigures()
        var x = CapsuleExtras()
        f.agents = options.agents
        let n = options.agents
        let servicesTotal = n * options.services
        let daemons = Daemons(bin: bin, home: home, options: options)
        try daemons.start()
        timeline(
            "capsule: broker pid \(daemons.pids.broker), aggregator \(daemons.pids.aggregator), audit \(daemons.pids.audit); home \(daemons.home.path)"
        )
        let client = try RequestClient(
            endpoint: "tcp://127.0.0.1:\(daemons.ports.2)",
            keyPair: try KeyFile.read(daemons.capsuleHome.keyFile("operator")),
            serverKey: try BrokerInfo.resolve(home: daemons.capsuleHome).serverKey,
            sender: "operator:local-owner",
            timeout: 10
        )
        guard
            waitUntil(
                "capsule: aggregator answers",
                seconds: 30,
                line: { "waiting for the aggregator" },
                {
                    (try? client.call("aggregator", "aggregator.stats", timeout: 1)) != nil
                }
            ) != nil
        else { throw BenchError("the aggregator never answered aggregator.stats; logs in \(home.path)") }

        // Which status ops exist on this branch.
        x.summaryOp = (try? client.call("aggregator", "status.summary", timeout: 3)) != nil
        if let probe = try? client.call("aggregator", "status.list", .object(["limit": .number(1)]), timeout: 3),
            case .object(let object) = probe, object["items"] != nil
        {
            x.pagedList = true
        }
        let help = run(bin.appendingPathComponent("capsulectl"), ["status", "--help"], timeout: 10).stdout
        x.ctlSummary = help.contains("--summary")
        x.ctlOutputFlag = help.contains("--output") || help.contains("-o,") || help.contains("-o ")
        timeline(
            "capsule: status.summary \(x.summaryOp ? "exists" : "absent"), paged status.list \(x.pagedList ? "exists" : "absent"), capsulectl status --summary \(x.ctlSummary ? "exists" : "absent")"
        )

        Thread.sleep(forTimeInterval: 2)
        let pids = daemons.pids
        f.serverRSSIdle = rssKiB(pid: pids.broker)
        x.aggregatorRSSIdle = rssKiB(pid: pids.aggregator)
        let bus = try BusWatcher(home: daemons.capsuleHome)
        defer { bus.stop() }

        // Tokens: token.create_batch, 500 a request (reply {tokens: [...]}).
        let mintStart = monotonic()
        var tokens: [String] = []
        tokens.reserveCapacity(n)
        while tokens.count < n {
            let want = min(500, n - tokens.count)
            let params: [String: JSONValue] = [
                "name": .string("fleet"), "count": .number(Double(want)),
                "firstIndex": .number(Double(tokens.count)), "expiresInSeconds": .number(7_200),
            ]
            let result = try client.call("broker", "token.create_batch", .object(params), timeout: 30)
            guard case .array(let list)? = result["tokens"] else {
                throw BenchError("token.create_batch returned no tokens")
            }
            tokens += list.compactMap { $0["token"]?.stringValue }
            if tokens.count % 1_000 == 0 { progress("minted \(tokens.count) tokens") }
        }
        x.mintSeconds = monotonic() - mintStart
        x.mintBulk = true
        timeline(
            String(
                format: "capsule: minted %d tokens in %.1f s (%@)",
                n,
                x.mintSeconds,
                "token.create_batch, 500 a request"
            )
        )
        for w in 0..<options.processes {
            let first = w * options.agentsPerProcess
            let count = min(options.agentsPerProcess, n - first)
            try tokens[first..<(first + count)].joined(separator: "\n").write(
                to: home.appendingPathComponent("tokens-\(w)"),
                atomically: true,
                encoding: .utf8
            )
        }

        // Enrol from zero.
        let workers = try startWorkers(
            extra: {
                ["--home", daemons.home.path, "--tokens", self.home.appendingPathComponent("tokens-\($0)").path]
            },
            prefix: "worker"
        )
        let workerPIDs = workers.map(\.pid)
        let enrolStart = monotonic()
        let enrolPressure = PressureWindow()
        let enrolCPU = CPUWindow([pids.broker, pids.aggregator, pids.audit] + workerPIDs)
        var welcomeCurve: [(Double, Int)] = []
        let line = { () -> String in
            let s = self.total(workers)
            let routed = (try? client.call("broker", "broker.stats", timeout: 2))?["agentsConnected"]?.intValue ?? -1
            let c = bus.counts
            let t = monotonic() - enrolStart
            if welcomeCurve.isEmpty || t - welcomeCurve.last!.0 >= 4.5 { welcomeCurve.append((t, s.everWelcomed)) }
            return
                "capsule: welcomed \(s.welcomed) routed \(routed) pub up \(s.pubUp) | \(c.text) | broker \(pct(enrolCPU.percent(pids.broker))) agg \(pct(enrolCPU.percent(pids.aggregator))) audit \(pct(enrolCPU.percent(pids.audit))) sim \(pct(enrolCPU.percent(workerPIDs))) | broker RSS \(kib(rssKiB(pid: pids.broker))) agg RSS \(kib(rssKiB(pid: pids.aggregator)))"
                + (s.helloErrors.isEmpty ? "" : " errors \(s.helloErrors)")
        }
        x.enrolled = waitUntil("capsule: every agent enrolled and welcomed", seconds: enrolBound, line: line) {
            total(workers).everWelcomed >= n
        }
        // The three enrolment waits share one bound, counted from the first worker's start.
        let remaining = { max(5, self.enrolBound - (monotonic() - enrolStart)) }
        f.settle = waitUntil("capsule: every agent's PUB handshaken", seconds: remaining(), line: line) {
            let s = total(workers)
            return s.welcomed >= n && s.pubUp >= n
        }.map { _ in monotonic() - enrolStart }
        let stats = total(workers)
        if stats.firstWelcomeAt > 0 { x.enrolSpan = stats.lastWelcomeAt - stats.firstWelcomeAt }
        x.enrolCPU = (enrolCPU.percent(pids.broker), enrolCPU.percent(pids.aggregator))
        let healthyWait = waitUntil("capsule: every service HEALTHY", seconds: remaining(), line: line) {
            bus.counts["HEALTHY"] >= servicesTotal
        }
        if healthyWait != nil { f.healthy = monotonic() - enrolStart }  // from the first connect
        x.welcomeCurve = welcomeCurve
        f.pressure["enrolment"] = enrolPressure.text

        // Steady window.
        Thread.sleep(forTimeInterval: options.heartbeat + 1)
        var perfProcess: Process?
        if options.perf {
            perfProcess = startPerf(pid: pids.broker, seconds: options.window)
        }
        let agg0 = try? client.call("aggregator", "aggregator.stats")
        let fwd0 = try? client.call("broker", "broker.stats")
        let hb0 = total(workers).hbSent
        let cpu = CPUWindow([pids.broker, pids.aggregator, pids.audit, getpid()] + workerPIDs)
        timeline("capsule: steady window \(Int(options.window)) s")
        let steadyPressure = PressureWindow()
        Thread.sleep(forTimeInterval: options.window)
        f.pressure["steady"] = steadyPressure.text
        f.serverCPU = cpu.percent(pids.broker)
        f.aggregatorCPU = cpu.percent(pids.aggregator)
        f.auditCPU = cpu.percent(pids.audit)
        f.simCPU = cpu.percent(workerPIDs)
        x.driverCPU = cpu.percent(getpid())
        let elapsed = cpu.elapsed
        f.heartbeatsPerSecond = Double(total(workers).hbSent - hb0) / elapsed
        if let agg0, let agg1 = try? client.call("aggregator", "aggregator.stats"),
            let r0 = agg0["received"]?.intValue, let r1 = agg1["received"]?.intValue
        {
            x.aggregatorReceivedPerSecond = Double(r1 - r0) / elapsed
        }
        if let fwd0, let fwd1 = try? client.call("broker", "broker.stats"),
            let r0 = fwd0["forwarded"]?.intValue, let r1 = fwd1["forwarded"]?.intValue
        {
            x.brokerForwardedPerSecond = Double(r1 - r0) / elapsed
            f.routed = fwd1["agentsConnected"]?.intValue
            if case .object(let drops)? = fwd1["dropped"] {
                x.brokerDrops = drops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.intValue ?? 0)" }.joined(
                    separator: ", "
                )
            }
        }
        f.serverRSS = rssKiB(pid: pids.broker)
        f.aggregatorRSS = rssKiB(pid: pids.aggregator)
        f.auditRSS = rssKiB(pid: pids.audit)
        f.welcomed = total(workers).welcomed
        x.steadyCounts = bus.counts
        if let perfProcess { x.perfReport = finishPerf(perfProcess) }
        timeline(
            String(
                format:
                    "capsule: steady: broker %.1f %%, aggregator %.1f %%, audit %.1f %% of a core; broker RSS %@ (%.1f KiB/agent over idle), aggregator RSS %@; simulator %.1f %%, driver %.1f %%",
                f.serverCPU ?? .nan,
                f.aggregatorCPU ?? .nan,
                f.auditCPU ?? .nan,
                kib(f.serverRSS),
                f.perAgentKiB ?? .nan,
                kib(f.aggregatorRSS),
                f.simCPU ?? .nan,
                x.driverCPU ?? .nan
            )
        )

        // Operator queries under load (not the full list: that one goes last).
        x.statsLatency = latency(options.queries * 5) { _ = try client.call("aggregator", "aggregator.stats") }
        x.brokerStatsLatency = latency(options.queries * 5) { _ = try client.call("broker", "broker.stats") }
        if x.summaryOp {
            x.summaryLatency = latency(options.queries * 5) { _ = try client.call("aggregator", "status.summary") }
        }
        if x.pagedList {
            x.pageLatency = latency(options.queries * 5) {
                _ = try client.call("aggregator", "status.list", .object(["limit": .number(100)]))
            }
        }
        if x.ctlSummary {
            x.ctlSummaryTimes = (0..<options.queries).map { _ in
                let r = run(
                    bin.appendingPathComponent("capsulectl"),
                    ["status", "--summary", "--home", daemons.home.path],
                    timeout: 30
                )
                return (r.seconds, r.status, r.stderr)
            }
        }

        // Flips and churn measure against a settled fleet; when it never settled they would only time out.
        let settled = f.settle != nil && healthyWait != nil
        if !settled && (options.flip > 0 || options.churn > 0) {
            timeline("capsule: the fleet never settled; skipping the health flip and the churn")
            x.skipped = true
        }

        // Health flips: a fraction of services DOWN, then UP again.
        if options.flip > 0 && settled {
            send(workers, "flip \(options.flip)")
            Thread.sleep(forTimeInterval: 1)
            let expected = total(workers).down
            x.flipped = expected
            x.flipDown = waitUntil(
                "capsule: \(expected) services UNHEALTHY",
                seconds: options.heartbeat * 4 + 10,
                line: line
            ) {
                let c = bus.counts
                return c["UNHEALTHY"] == expected && c["HEALTHY"] == servicesTotal - expected
            }
            send(workers, "flip 0")
            x.flipUp = waitUntil(
                "capsule: every service HEALTHY again",
                seconds: options.heartbeat * 4 + 10,
                line: line
            ) {
                bus.counts["HEALTHY"] == servicesTotal
            }
        }

        // Command burst.
        if options.commands > 0 {
            let before = bus.commandsSucceeded
            let start = monotonic()
            var created = 0
            var createTimes: [Double] = []
            var refused: [String: Int] = [:]
            for i in 0..<options.commands {
                // Bounded in time as well as count: an overloaded broker answers slowly or not at all.
                if monotonic() - start > 30 {
                    refused["not sent (30 s bound)", default: 0] += options.commands - i
                    break
                }
                let agent = (i * 7_919) % n
                let service = "fleet-\(agent)-s\(i % options.services)"
                let t = monotonic()
                do {
                    _ = try client.call(
                        "broker",
                        "command.create",
                        .object(["service": .string(service), "action": .string("ping")]),
                        timeout: 5
                    )
                    created += 1
                    createTimes.append((monotonic() - t) * 1_000)
                } catch let error as ErrorBody {
                    refused[error.code.rawValue, default: 0] += 1
                }
            }
            let createdIn = monotonic() - start
            let done = waitUntil(
                "capsule: \(created) commands SUCCEEDED",
                seconds: settled ? 60 : 20,
                line: { "commands succeeded \(bus.commandsSucceeded - before) / \(created)" },
                {
                    bus.commandsSucceeded - before >= created
                }
            )
            x.commandCreated = created
            x.commandRefused = refused
            x.commandCreateMedian = percentile(createTimes, 0.5)
            x.commandCreateP99 = percentile(createTimes, 0.99)
            x.commandCreateSpan = createdIn
            x.commandAllDone = done.map { $0 + createdIn }
        }

        // Churn: kill a fraction of agents, watch their services go OFFLINE while the others heartbeat.
        if options.churn > 0 && settled {
            send(workers, "kill \(options.churn)")
            let killAt = monotonic()
            Thread.sleep(forTimeInterval: 1)
            let s = total(workers)
            x.killed = s.killed
            let killedServices = s.killedServices
            var minOthersHealthy = Int.max
            x.killedOffline = waitUntil(
                "capsule: \(killedServices) services of \(s.killed) killed agents OFFLINE",
                seconds: options.offline + 30,
                line: line
            ) {
                let c = bus.counts
                minOthersHealthy = min(minOthersHealthy, c["HEALTHY"])
                return c["OFFLINE"] >= killedServices
            }.map { $0 + 1 }
            _ = killAt
            x.othersHealthyMin = minOthersHealthy == Int.max ? nil : minOthersHealthy
            x.othersExpected = servicesTotal - killedServices
            send(workers, "restart")
            x.restartHealthy = waitUntil("capsule: restarted agents' services HEALTHY again", seconds: 90, line: line) {
                bus.counts["HEALTHY"] >= servicesTotal
            }
        }

        // Broker SIGKILL and restart: the reconnect curve.
        send(workers, "mark")
        bus.watchHeartbeats(false)
        Thread.sleep(forTimeInterval: 1)
        timeline("capsule: SIGKILL broker pid \(daemons.pids.broker), down \(options.downSeconds) s")
        daemons.killBroker()
        Thread.sleep(forTimeInterval: options.downSeconds)
        try daemons.startBroker()
        let restartAt = monotonic()
        let reconnectPressure = PressureWindow()
        bus.watchHeartbeats(true)
        let rcpu = CPUWindow([daemons.pids.broker, pids.aggregator])
        var curve: [(Double, Int, Int)] = []
        var welcomedAt: Double?
        var heartbeatsAt: Double?
        var healthyAt: Double?
        var routedAt: Double?
        var minHealthy = Int.max
        var lastLine = restartAt
        while monotonic() - restartAt < 90 {
            let t = monotonic() - restartAt
            let s = total(workers)
            let t1 = monotonic()
            let seen = bus.heartbeatAgents
            let healthy = bus.counts["HEALTHY"]
            if monotonic() - t1 > 0.5 { progress(String(format: "slow bus read %.1f s", monotonic() - t1)) }
            if t1 - restartAt - t > 0.5 { progress(String(format: "slow worker stats %.1f s", t1 - restartAt - t)) }
            minHealthy = min(minHealthy, healthy)
            if curve.isEmpty || t - curve.last!.0 >= 1 { curve.append((t, s.welcomed, seen)) }
            if welcomedAt == nil && s.welcomed >= n && s.pubUp >= n { welcomedAt = t }
            if heartbeatsAt == nil && seen >= n { heartbeatsAt = t }
            if healthyAt == nil && heartbeatsAt != nil && healthy >= servicesTotal { healthyAt = t }
            let t2 = monotonic()
            if routedAt == nil,
                let routed = (try? client.call("broker", "broker.stats", timeout: 1))?["agentsConnected"]?.intValue,
                routed >= n
            {
                routedAt = t
            }
            if monotonic() - t2 > 1.5 { progress(String(format: "slow broker.stats %.1f s", monotonic() - t2)) }
            if monotonic() - lastLine >= options.sample {
                lastLine = monotonic()
                timeline(
                    "capsule: reconnect +\(Int(t)) s: welcomed \(s.welcomed) pub up \(s.pubUp) heartbeats on the bus from \(seen) agents | \(bus.counts.text)"
                )
            }
            if welcomedAt != nil && heartbeatsAt != nil && healthyAt != nil && routedAt != nil { break }
            usleep(250_000)
        }
        bus.watchHeartbeats(false)
        f.pressure["reconnect"] = reconnectPressure.text
        f.reconnectCPU = rcpu.percent(daemons.pids.broker)
        x.reconnectAggregatorCPU = rcpu.percent(pids.aggregator)
        _ = rcpu
        f.reconnectWelcomed = welcomedAt
        f.reconnectHeartbeats = heartbeatsAt
        f.reconnectHealthy = healthyAt
        x.reconnectRouted = routedAt
        f.minHealthyDuring = minHealthy == Int.max ? nil : minHealthy
        f.reconnectCurve = curve
        Thread.sleep(forTimeInterval: 1)
        let end = total(workers)
        f.disconnectedTwice = end.disconnectedTwice
        f.maxDisconnects = end.maxDisconnects
        timeline(
            "capsule: reconnect: welcomed \(seconds(welcomedAt)), routed \(seconds(routedAt)), heartbeats on the bus \(seconds(heartbeatsAt)), every service HEALTHY \(seconds(healthyAt)); lowest HEALTHY \(f.minHealthyDuring ?? -1); agents disconnected twice \(end.disconnectedTwice)"
        )
        x.gaps = bus.gaps

        // The full list last: on a broker with a 256 KiB frame cap it may fail (and cost the aggregator its link).
        let listArgs = x.ctlOutputFlag ? ["status", "-o", "json"] : ["status", "--json"]
        x.ctlListArgs = listArgs.joined(separator: " ")
        x.ctlListTimes = (0..<options.queries).map { _ in
            let r = run(
                bin.appendingPathComponent("capsulectl"),
                listArgs + ["--home", daemons.home.path],
                timeout: 60
            )
            var rows: Int?
            if r.status == 0, let data = r.stdout.data(using: .utf8),
                let parsed = try? JSONSerialization.jsonObject(with: data) as? [Any]
            {
                rows = parsed.count
            } else if r.status == 0, let data = r.stdout.data(using: .utf8),
                let parsed = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let items = parsed["items"] as? [Any]
            {
                rows = items.count
            }
            return (r.seconds, r.status, rows.map { "\($0) rows" } ?? String(r.stderr.prefix(160)))
        }
        timeline(
            "capsule: capsulectl \(x.ctlListArgs): "
                + x.ctlListTimes.map { String(format: "%.2f s exit %d (%@)", $0.0, $0.1, $0.2) }.joined(separator: "; ")
        )

        for w in workers { w.stop() }
        children.removeAll { c in workers.contains { $0 === c } }
        _ = rawFigures
        return (f, x)
    }

    // MARK: Helpers

    struct RunResult {
        var seconds: Double
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a tool to completion (bounded), timing it from launch to exit.
    func run(_ tool: URL, _ arguments: [String], timeout: Double) -> RunResult {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAPSULE_") }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let outData = Mutex(Data())
        let errData = Mutex(Data())
        let start = monotonic()
        do { try process.run() } catch { return RunResult(seconds: 0, status: -1, stdout: "", stderr: "\(error)") }
        let outDone = DispatchSemaphore(value: 0)
        let errDone = DispatchSemaphore(value: 0)
        Thread {
            let data = out.fileHandleForReading.readDataToEndOfFile()
            outData.withLock { $0 = data }
            outDone.signal()
        }.start()
        Thread {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            errData.withLock { $0 = data }
            errDone.signal()
        }.start()
        while process.isRunning && monotonic() - start < timeout { usleep(2_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let seconds = monotonic() - start
        _ = outDone.wait(timeout: .now() + 5)
        _ = errDone.wait(timeout: .now() + 5)
        return RunResult(
            seconds: seconds,
            status: process.terminationStatus,
            stdout: String(decoding: outData.withLock { $0 }, as: UTF8.self),
            stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self)
        )
    }

    func latency(_ count: Int, _ body: () throws -> Void) -> (Double, Double)? {
        var samples: [Double] = []
        for _ in 0..<count {
            let t = monotonic()
            do { try body() } catch { return nil }
            samples.append((monotonic() - t) * 1_000)
        }
        return (percentile(samples, 0.5), samples.max() ?? .nan)
    }

    func startPerf(pid: Int32, seconds: Double) -> Process? {
        let perf = Process()
        perf.executableURL = URL(fileURLWithPath: "/usr/bin/perf")
        perf.arguments = [
            "record", "-g", "-F", "199", "-p", "\(pid)", "-o", home.appendingPathComponent("broker.perf").path,
            "--", "sleep", "\(Int(seconds))",
        ]
        perf.standardOutput = FileHandle.nullDevice
        perf.standardError = FileHandle.nullDevice
        do { try perf.run() } catch { return nil }
        return perf
    }

    func finishPerf(_ perf: Process) -> String {
        let deadline = monotonic() + 20
        while perf.isRunning && monotonic() < deadline { usleep(50_000) }
        if perf.isRunning { perf.terminate() }
        let r = run(
            URL(fileURLWithPath: "/usr/bin/perf"),
            [
                "report", "--no-children", "--sort", "dso,symbol", "--stdio", "-g", "none",
                "--percent-limit", "1", "-i", home.appendingPathComponent("broker.perf").path,
            ],
            timeout: 60
        )
        return r.stdout.split(separator: "\n").filter {
            !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
        .prefix(14).map { line in
            let words = line.split(separator: " ").filter { $0 != "-" }
            return "    " + words.joined(separator: " ")
        }.joined(separator: "\n")
    }
}

/// Capsule-only figures.
struct CapsuleExtras {
    var summaryOp = false
    var pagedList = false
    var ctlSummary = false
    var ctlOutputFlag = false
    var mintSeconds = 0.0
    var mintBulk = false
    var enrolSpan: Double?
    var enrolled: Double?
    var enrolCPU: (Double?, Double?) = (nil, nil)
    var welcomeCurve: [(Double, Int)] = []
    var aggregatorRSSIdle: Int?
    var driverCPU: Double?
    var aggregatorReceivedPerSecond: Double?
    var brokerForwardedPerSecond: Double?
    var brokerDrops = ""
    var steadyCounts = StatusCounts()
    var perfReport = ""
    var statsLatency: (Double, Double)?
    var brokerStatsLatency: (Double, Double)?
    var summaryLatency: (Double, Double)?
    var pageLatency: (Double, Double)?
    var ctlSummaryTimes: [(Double, Int32, String)] = []
    var ctlListArgs = ""
    var ctlListTimes: [(Double, Int32, String)] = []
    var flipped = 0
    var flipDown: Double?
    var flipUp: Double?
    var commandCreated = 0
    var commandRefused: [String: Int] = [:]
    var commandCreateMedian = Double.nan
    var commandCreateP99 = Double.nan
    var commandCreateSpan = 0.0
    var commandAllDone: Double?
    var killed = 0
    var killedOffline: Double?
    var othersHealthyMin: Int?
    var othersExpected = 0
    var restartHealthy: Double?
    var reconnectRouted: Double?
    var reconnectAggregatorCPU: Double?
    var gaps: (filled: Int, missed: Int) = (0, 0)
    var skipped = false
}

func kib(_ value: Int?) -> String {
    guard let value else { return "n/a" }
    return value >= 10_240 ? String(format: "%.1f MiB", Double(value) / 1_024) : "\(value) KiB"
}

func pct(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "n/a" }
    return String(format: "%.1f%%", value)
}

func seconds(_ value: Double?) -> String {
    guard let value else { return "not reached" }
    return String(format: "%.1f s", value)
}

enum Fleet {
    static func main(_ arguments: [String]) throws {
        let options = try FleetOptions.parse(arguments)
        let driver = try FleetDriver(options: options)
        defer {
            driver.stopChildren()
            endStartedDaemons()
            if options.keepHome {
                progress("kept the fleet home at \(driver.home.path)")
            } else {
                try? FileManager.default.removeItem(at: driver.home)
            }
        }
        let startedAt = Date()
        let load = loadAverage()
        let runPressure = PressureWindow()
        driver.timeline(
            "fleet: \(options.agents) agents × \(options.services) services, heartbeat \(options.heartbeat) s, stale/offline \(options.stale)/\(options.offline) s, \(options.processes) worker processes × \(options.shards) shards × \(options.ioThreads) I/O threads at nice \(options.nice), ZMTP heartbeat \(options.zmtpText), connect rate \(Int(options.connectRate))/s"
        )
        var raw: PhaseFigures?
        if !options.skipRaw { raw = try driver.runRaw() }
        var capsule: (PhaseFigures, CapsuleExtras)?
        if !options.skipCapsule { capsule = try driver.runCapsule(rawFigures: raw) }
        FileHandle.standardOutput.write(
            Data(
                (FleetReport.render(
                    options: options,
                    startedAt: startedAt,
                    load: load,
                    raw: raw,
                    capsule: capsule,
                    pressure: runPressure.text
                ) + "\n").utf8
            )
        )
    }
}
