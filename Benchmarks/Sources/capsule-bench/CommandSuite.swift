import CapsuleAudit
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import GRDB

/// Issue 11's figures: action round trip, pipelined commands with the audit writer live, a burst over
/// many agents, `capsulectl` wall-clock times, and the audit writer's replay rate, each beside its
/// raw baseline measured in this run.
enum CommandSuite {
    static func run(
        options: Options,
        bin: URL,
        relayMedian: Double,
        relayP99: Double,
        echoMedian: Double
    ) throws -> [String] {
        var lines: [String] = [""]
        let cluster = try BenchCluster(bin: bin, keepHome: options.keepHome)
        defer { cluster.stop() }
        progress("commands: starting broker, aggregator and audit writer (home \(cluster.home.path))")
        try cluster.start()
        try cluster.startAudit()
        let home = cluster.capsuleHome
        let (info, serverKey) = try BrokerInfo.resolve(home: home)
        let client = try RequestClient(
            endpoint: info.router,
            keyPair: try KeyFile.read(home.keyFile("operator")),
            serverKey: serverKey,
            sender: "operator:local-owner",
            timeout: 30
        )
        try cluster.waitFor("the broker to answer", seconds: 20) {
            (try? client.call(BrokerOps.Stats.self, NoParams())) != nil
        }

        let agentCount = max(options.burstAgents, 1)
        var tokens: [String] = []
        while tokens.count < agentCount {
            let batch = min(BrokerOps.TokenCreateBatch.maxCount, agentCount - tokens.count)
            tokens += try client.call(
                BrokerOps.TokenCreateBatch.self,
                .init(name: "cmd", count: batch, firstIndex: tokens.count + 1)
            ).tokens.map(\.token)
        }
        progress("commands: \(agentCount) answering agents on one thread (nice \(options.nice))")
        let agents = CommandAgents(home: home, tokens: tokens, nice: options.nice)
        defer { try? agents.shutdown() }
        try cluster.waitFor("every answering agent welcomed", seconds: 60) { agents.ready >= agentCount }
        try cluster.waitFor("every answering service known", seconds: 60) {
            ((try? client.call(AggregatorOps.StatusSummaryOp.self, NoParams()))?.totalServices ?? 0) >= agentCount
        }
        let services = (0..<agentCount).map { "cmd-svc-\($0)" }
        // The broker claims a service once it forwards the report; probe until every one answers.
        for service in services {
            try cluster.waitFor("\(service) to take commands", seconds: 30) {
                (try? client.call(BrokerOps.CommandCreate.self, .init(service: service, action: "noop", waitSeconds: 5)))?
                    .status == .succeeded
            }
        }
        var created = services.count

        // 1. In-process round trip.
        var roundTrips: [[Double]] = []
        for rep in 1...options.reps {
            progress("commands: \(options.requests) sequential action round trips, repetition \(rep)")
            roundTrips.append(
                try CommandBench.roundTrip(client: client, service: services[0], requests: options.requests)
            )
            created += options.requests + 50
        }
        let medians = roundTrips.map { percentile($0, 0.5) }
        let p99s = roundTrips.map { percentile($0, 0.99) }
        lines.append(
            "action round trip   capsule command.create→agent→result, one request (waitSeconds) median \(microSummary(Summary(values: medians))), p99 \(micros(percentile(p99s, 0.5)))"
                + "  |  raw 2-hop CURVE relay median \(micros(relayMedian)), p99 \(micros(relayP99)); target ≤ 2× relay (\(micros(2 * relayMedian)))"
        )

        // 2. Pipelined commands, audit writer live.
        let pipe = try PipelinedOperator(home: home)
        var rates: [Double] = []
        var cpu: [(broker: Double, audit: Double, aggregator: Double)] = []
        for rep in 1...options.reps {
            progress(
                "commands: \(options.commands) pipelined over \(agentCount) agents (window 2000), repetition \(rep)"
            )
            let pids = (
                cluster.broker!.processIdentifier, cluster.audit!.processIdentifier,
                cluster.aggregator!.processIdentifier
            )
            let before = (cpuSeconds(pid: pids.0) ?? 0, cpuSeconds(pid: pids.1) ?? 0, cpuSeconds(pid: pids.2) ?? 0)
            let result = try CommandBench.pipelined(
                operator: pipe,
                services: services,
                count: options.commands,
                window: 2_000
            )
            let after = (cpuSeconds(pid: pids.0) ?? 0, cpuSeconds(pid: pids.1) ?? 0, cpuSeconds(pid: pids.2) ?? 0)
            rates.append(result.rate)
            cpu.append(
                (
                    (after.0 - before.0) / Double(options.commands), (after.1 - before.1) / Double(options.commands),
                    (after.2 - before.2) / Double(options.commands)
                )
            )
            created += options.commands
        }
        progress("commands: waiting for the audit writer to store every command event")
        var audited = (succeeded: 0, distinct: 0, created: 0)
        let settleStart = monotonic()
        try cluster.waitFor("the audit store to hold every command", seconds: 300) {
            audited = try CommandBench.audited(home: cluster.home)
            return audited.succeeded >= created
        }
        let settle = monotonic() - settleStart
        lines.append(
            "commands pipelined  capsule \(rateSummary(Summary(values: rates), unit: "commands/s")) end to end, audit writer live  |  raw pipelined echo: see round trips; target ≥ 10,000/s"
        )
        lines.append(
            String(
                format:
                    "  CPU per command (µs, median): broker %.0f, audit writer %.0f, aggregator %.0f; audit store: %@ command.succeeded for %@ commands, %@ distinct (exactly once: %@), settled %.1f s after the last answer",
                percentile(cpu.map(\.broker), 0.5) * 1e6,
                percentile(cpu.map(\.audit), 0.5) * 1e6,
                percentile(cpu.map(\.aggregator), 0.5) * 1e6,
                count(audited.succeeded),
                count(created),
                count(audited.distinct),
                audited.succeeded == created && audited.distinct == created ? "yes" : "NO",
                settle
            )
        )

        // 3. A burst over every agent.
        progress("commands: burst of \(options.burst) over \(agentCount) agents")
        var bursts: [Double] = []
        for _ in 1...options.reps {
            bursts.append(
                try CommandBench.pipelined(
                    operator: pipe,
                    services: services,
                    count: options.burst,
                    window: options.burst
                ).seconds
            )
            created += options.burst
        }
        lines.append(
            "burst               capsule \(options.burst) commands over \(agentCount) agents, all answered in \(String(format: "%.3f", percentile(bursts, 0.5))) s (min \(String(format: "%.3f", bursts.min() ?? 0)), max \(String(format: "%.3f", bursts.max() ?? 0)))  |  target < 1 s"
        )

        // 4. capsulectl, wall clock.
        progress("commands: capsulectl wall clock, \(options.cliRuns) runs each")
        let ctl = bin.appendingPathComponent("capsulectl")
        let actionRuns = try (0..<options.cliRuns).map { _ in
            try wall(ctl, ["action", "run", services[0], "noop", "--home", cluster.home.path])
        }
        let statusRuns = try (0..<options.cliRuns).map { _ in try wall(ctl, ["status", "--home", cluster.home.path]) }
        let trueRuns = try (0..<options.cliRuns).map { _ in try wall(URL(fileURLWithPath: "/bin/true"), []) }
        let oneShot = try RawBaselines.oneShots(runs: options.cliRuns)
        created += options.cliRuns
        lines.append(
            "capsulectl wall     action run median \(millis(percentile(actionRuns, 0.5))), p99 \(millis(percentile(actionRuns, 0.99))); status median \(millis(percentile(statusRuns, 0.5))) (\(agentCount) services)"
                + "  |  raw: process spawn (/bin/true) \(millis(percentile(trueRuns, 0.5))), one-shot CURVE connect+handshake+echo in process \(millis(percentile(oneShot, 0.5))); target ≤ 30 ms"
        )

        // 5. The audit writer replaying a backlog from the broker's journal, `reps` times (each
        //    backlog lands on top of the last, as a restarted audit writer's does).
        let auditDB = try CommandBench.auditDatabase(home: cluster.home)
        defer { try? auditDB.close() }
        var replays: [(timing: ReplayTiming, cpu: Double, raw: Double)] = []
        for repetition in 1...options.reps {
            progress(
                "audit: stopping the audit writer and journalling \(options.backlog) events, repetition \(repetition)"
            )
            cluster.stopAudit()
            var minted = 0
            while minted < options.backlog {
                let batch = min(BrokerOps.TokenCreateBatch.maxCount, options.backlog - minted)
                _ = try client.call(
                    BrokerOps.TokenCreateBatch.self,
                    .init(name: "backlog", count: batch, firstIndex: (repetition - 1) * options.backlog + minted + 1)
                )
                minted += batch
            }
            progress("audit: restarting the audit writer; timing its replay")
            let timing = try cluster.timeReplay(
                events: options.backlog,
                highestID: {
                    try auditDB.read { db in try Int.fetchOne(db, sql: "SELECT MAX(id) FROM audit_event") ?? 0 }
                },
                stored: {
                    try auditDB.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_event") ?? 0 }
                }
            )
            let cpu = cpuSeconds(pid: cluster.audit!.processIdentifier) ?? 0
            replays.append((timing, cpu, try RawSQLite.batchedInsert(rows: options.backlog)))
        }
        let sustained = Summary(values: replays.map(\.timing.sustainedRate))
        lines.append(
            String(
                format:
                    "audit replay        capsule %@ events/s sustained (min %@, max %@; first event stored to the last; %.0f %% of raw), %@ events/s from its start (%@ events in %.2f s; its CPU %.2f s)  |  raw SQLite batched insert of the same rows %@ rows/s (min %@, max %@); target ≥ 50,000/s and ≥ 30 %% of raw",
                rate(sustained.median),
                rate(sustained.min),
                rate(sustained.max),
                percentile(replays.map { $0.timing.sustainedRate / $0.raw * 100 }, 0.5),
                rate(percentile(replays.map(\.timing.rate), 0.5)),
                count(options.backlog),
                percentile(replays.map(\.timing.seconds), 0.5),
                percentile(replays.map(\.cpu), 0.5),
                rate(percentile(replays.map(\.raw), 0.5)),
                rate(replays.map(\.raw).min() ?? 0),
                rate(replays.map(\.raw).max() ?? 0)
            )
        )
        return lines
    }

    /// Runs an executable to the end and returns its wall-clock seconds.
    static func wall(_ executable: URL, _ arguments: [String]) throws -> Double {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAPSULE_") }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let start = monotonic()
        try process.run()
        process.waitUntilExit()
        let seconds = monotonic() - start
        guard process.terminationStatus == 0 else {
            throw BenchError(
                "\(executable.lastPathComponent) \(arguments.prefix(3).joined(separator: " ")) exited \(process.terminationStatus)"
            )
        }
        return seconds
    }

    static func millis(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }
}

extension CommandBench {
    /// The audit store, read-only, held open while the audit writer replays (opening it per probe
    /// would read its schema each time).
    static func auditDatabase(home: URL) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(
            path: home.appendingPathComponent("data/audit.sqlite").path,
            configuration: configuration
        )
    }
}

/// The floor for the audit writer: the same rows into the same table with one prepared statement in
/// one transaction, the rows built beforehand (no JSON, no decoding).
enum RawSQLite {
    static func batchedInsert(rows: Int) throws -> Double {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsule-raw-sqlite-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(
            path: directory.appendingPathComponent("raw.sqlite").path,
            configuration: configuration
        )
        try AuditStore.migrator.migrate(pool)
        let details = #"{"agentCode":"bench","expiresAt":"2026-12-01T00:00:00Z","name":"backlog-1"}"#
        let values: [[any DatabaseValueConvertible]] = (0..<rows).map { index in
            [
                "broker", "inc_bench", index + 1, 1_800_000_000.0 + Double(index), "token.created",
                "token:tok_\(index)", "operator:local-owner",
                "SUCCESS", "ACTIVE", "registration token backlog-\(index)", details,
            ]
        }
        let start = monotonic()
        try pool.write { db in
            let statement = try db.makeStatement(
                sql: """
                    INSERT OR IGNORE INTO audit_event (publisher, incarnation, seq, at, action, subject, actor, result, toStatus, reason, details)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            )
            for row in values { try statement.execute(arguments: StatementArguments(row)) }
        }
        return Double(rows) / (monotonic() - start)
    }
}

extension RawBaselines {
    /// A fresh context, CURVE DEALER, handshake and one echo per run, against a raw ROUTER: what a
    /// one-shot client pays in libzmq alone, without starting a process.
    static func oneShots(runs: Int) throws -> [Double] {
        let server = try CurveKeyPair.generate()
        let stop = StopFlag()
        let endpoint = Handoff<String>()
        let thread = BenchThread(name: "raw-oneshot-router") {
            let context = ZMQContext()
            let router = try ZMQSocket(context: context, type: .router, lingerMilliseconds: 0)
            defer { router.close() }
            try makePlainCurveServer(router, secretKey: server.secretKey)
            try router.bind(anyLoopback)
            endpoint.put(try router.lastEndpoint())
            var poller = ZMQPoller()
            poller.add(router)
            while !stop.isSet {
                _ = try poller.poll(timeoutMilliseconds: 20)
                while let message = try router.receive() { try router.send(message.frames) }
            }
            withExtendedLifetime(context) {}
        }
        defer {
            stop.set()
            try? thread.join(seconds: 5)
        }
        let address = try endpoint.take(seconds: 10, what: "the one-shot router")
        var samples: [Double] = []
        for _ in 0..<runs {
            let start = monotonic()
            try autoreleasepool {
                let context = ZMQContext()
                let dealer = try ZMQSocket(context: context, type: .dealer, lingerMilliseconds: 0)
                try dealer.makeCurveClient(keyPair: try CurveKeyPair.generate(), serverKey: server.publicKey)
                try dealer.connect(address)
                try dealer.send([Data("ping".utf8)], dontWait: false)
                var poller = ZMQPoller()
                poller.add(dealer)
                let deadline = monotonic() + 5
                var answered = false
                while !answered && monotonic() < deadline {
                    _ = try poller.poll(timeoutMilliseconds: 50)
                    answered = try dealer.receive() != nil
                }
                dealer.close()
                guard answered else { throw BenchError("the one-shot echo did not answer") }
            }
            samples.append(monotonic() - start)
        }
        return samples
    }
}

/// Runs `body`; on Linux there is no autorelease pool, the scope only bounds the context's lifetime.
func autoreleasepool<T>(_ body: () throws -> T) rethrows -> T { try body() }
