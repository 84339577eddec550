import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleTestSupport
import Foundation
import Testing

/// Real Capsule processes on loopback with a temporary home and short thresholds.
/// Every wait is a bounded loop; nothing asserts on wall-clock time.
final class Cluster: @unchecked Sendable {
    let home: URL
    let ports: (ingest: Int, bus: Int, router: Int)
    /// Each daemon's /metrics port (their defaults, 9401–9403, would collide between parallel tests).
    let metricsPorts: (broker: Int, aggregator: Int, audit: Int)
    let thresholds = ["--heartbeat-seconds", "1", "--stale-seconds", "3", "--offline-seconds", "5"]
    private(set) var processes: [String: TestProcess] = [:]
    private let lock = NSLock()

    init() throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsule-e2e-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        ports = (Self.freePort(), Self.freePort(), Self.freePort())
        metricsPorts = (Self.freePort(), Self.freePort(), Self.freePort())
    }

    deinit {
        for process in processes.values where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        // CAPSULE_E2E_KEEP=1 keeps the home (logs, databases) for a look after a failure.
        if ProcessInfo.processInfo.environment["CAPSULE_E2E_KEEP"] == nil {
            try? FileManager.default.removeItem(at: home)
        }
    }

    /// The directory holding the built executables (next to the test bundle).
    static let binDirectory: URL = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: url.appendingPathComponent("capsule-broker").path)
        {
            url = url.deletingLastPathComponent()
        }
        return url
    }()

    static func freePort() -> Int { LoopbackPort.free() }

    var commonArgs: [String] { ["--home", home.path] }
    var healthFile: URL { home.appendingPathComponent("billing.health") }

    func log(_ name: String) -> URL { home.appendingPathComponent("\(name).log") }

    @discardableResult
    func start(
        _ name: String,
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) throws -> TestProcess {
        var env = ProcessInfo.processInfo.environment
        env["CAPSULE_HOME"] = home.path
        for (key, value) in environment { env[key] = value }
        // A restarted process appends to the same log, so a run's whole story stays in one file.
        let process = try TestProcess(
            Self.binDirectory.appendingPathComponent(executable).path,
            arguments,
            environment: env,
            output: log(name).path,
            append: true
        )
        lock.withLock { processes[name] = process }
        return process
    }

    func startBroker(extra: [String] = []) throws {
        try start(
            "broker",
            "capsule-broker",
            commonArgs + thresholds + [
                "--ingest-bind", "tcp://127.0.0.1:\(ports.ingest)", "--bus-bind", "tcp://127.0.0.1:\(ports.bus)",
                "--router-bind", "tcp://127.0.0.1:\(ports.router)", "--metrics-bind",
                "127.0.0.1:\(metricsPorts.broker)",
            ] + extra
        )
        try waitFor("broker.json") {
            FileManager.default.fileExists(atPath: self.home.appendingPathComponent("broker.json").path)
        }
    }

    func startAggregator(extra: [String] = []) throws {
        try start(
            "aggregator",
            "capsule-aggregator",
            commonArgs + thresholds + ["--metrics-bind", "127.0.0.1:\(metricsPorts.aggregator)"] + extra
        )
    }

    func startAudit(extra: [String] = []) throws {
        try start("audit", "capsule-audit", commonArgs + ["--metrics-bind", "127.0.0.1:\(metricsPorts.audit)"] + extra)
    }

    func startDemoService(agentCode: String = "demo-swift", name: String = "demo", extra: [String] = []) throws {
        var args =
            commonArgs + ["--heartbeat-seconds", "1", "--health-file", healthFile.path, "--agent-code", agentCode]
            + extra
        if !FileManager.default.fileExists(atPath: home.appendingPathComponent("keys/agent-\(agentCode).key").path) {
            args += ["--token", try mintToken(agentCode: agentCode)]
        }
        try start(name, "capsule-demo-service", args)
    }

    /// Mints a registration token with the local owner key.
    func mintToken(agentCode: String? = nil, expires: String = "10m") throws -> String {
        try mintTokenRecord(agentCode: agentCode, expires: expires).token
    }

    /// Mints a registration token and returns the raw token and its id.
    func mintTokenRecord(agentCode: String? = nil, expires: String = "10m") throws -> (token: String, id: String) {
        var args = ["token", "create", "--name", "e2e", "--expires", expires, "--json"]
        if let agentCode { args += ["--agent-code", agentCode] }
        var result = try ctl(args)
        for _ in 0..<50 where result.exitCode != 0 {
            Thread.sleep(forTimeInterval: 0.2)
            result = try ctl(args)
        }
        let value = try? JSONValue.parse(result.stdout)
        guard result.exitCode == 0, let token = value?["token"]?.stringValue,
            let id = value?["record"]?["id"]?.stringValue
        else {
            throw ClusterError.timeout("token create: \(result.stderr)")
        }
        return (token, id)
    }

    /// Broker, aggregator and audit writer, returning once the broker answers the local owner.
    func startControlPlane() throws {
        try startBroker()
        try startAggregator()
        try startAudit()
        try waitFor("operator access") { try ctl(["token", "list"]).exitCode == 0 }
    }

    /// The control plane plus the demo Swift service, returning once billing-bridge reads HEALTHY.
    func startWithDemoService(extra: [String] = []) throws {
        try setHealth("UP")
        try startControlPlane()
        try startDemoService(extra: extra)
        try waitFor("billing-bridge HEALTHY") { try status(of: "billing-bridge")?.status == "HEALTHY" }
    }

    /// Sends SIGKILL (a crash) or SIGTERM (a graceful stop) and waits for the process to end.
    func stop(_ name: String, signal: Int32 = SIGKILL) {
        guard let process = lock.withLock({ processes[name] }) else { return }
        if process.isRunning { kill(process.processIdentifier, signal) }
        // A graceful stop gets 5 s; after that (or if the signal was blocked) it is killed.
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func stopAll() {
        for name in lock.withLock({ Array(processes.keys) }) { stop(name, signal: SIGTERM) }
    }

    func setHealth(_ status: String) throws {
        try Data(status.utf8).write(to: healthFile)
    }

    typealias CTLResult = TestProcess.Output

    /// Runs capsulectl with this cluster's home.
    func ctl(_ arguments: [String]) throws -> CTLResult {
        try TestProcess.run(
            Self.binDirectory.appendingPathComponent("capsulectl").path,
            arguments + ["--home", home.path],
            environment: ProcessInfo.processInfo.environment
        )
    }

    /// capsulectl's JSON: ISO 8601 dates with milliseconds.
    static let ctlDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = try? Date(
                text,
                strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)
            ) {
                return date
            }
            if let date = try? Date(text, strategy: .iso8601) { return date }
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(text)")
            )
        }
        return decoder
    }()

    func ctlJSON<T: Decodable>(_ type: T.Type, _ arguments: [String]) throws -> T? {
        let result = try ctl(arguments + ["--json"])
        guard result.exitCode == 0 else { return nil }
        return try? Self.ctlDecoder.decode(T.self, from: Data(result.stdout.utf8))
    }

    func status(of code: String) throws -> ServiceStatusRow? {
        try ctlJSON([ServiceStatusRow].self, ["status"])?.first { $0.code == code }
    }

    /// Audit records (oldest first) for a subject, from `capsulectl audit --json`.
    func audit(subject: String? = nil, action: String? = nil) throws -> [AuditEvent] {
        var args = ["audit", "--limit", "10000"]
        if let subject { args += ["--subject", subject] }
        if let action { args += ["--action", action] }
        let result = try ctl(args + ["--json"])
        guard result.exitCode == 0 else { return [] }
        let records = (try? Self.ctlDecoder.decode([AuditRecord].self, from: Data(result.stdout.utf8))) ?? []
        return records.sorted { $0.id < $1.id }.map(\.event)
    }

    /// Polls `condition` every 200 ms for at most `seconds`; records a failure with the logs if it never holds.
    func waitFor(
        _ what: String,
        seconds: Double = 30,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () throws -> Bool
    ) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.2)
        }
        Issue.record("timed out waiting for \(what)\n\(logs())", sourceLocation: sourceLocation)
        throw ClusterError.timeout(what)
    }

    func logs() -> String {
        // Brokers first: theirs is the log a failure most often turns on, and a long dump gets cut.
        lock.withLock { Array(processes.keys) }.sorted {
            ($0.hasPrefix("broker") ? 0 : 1, $0) < ($1.hasPrefix("broker") ? 0 : 1, $1)
        }
        .map { name in
            let text = (try? String(contentsOf: log(name), encoding: .utf8)) ?? ""
            return "--- \(name).log (last lines)\n" + text.split(separator: "\n").suffix(25).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    enum ClusterError: Error { case timeout(String) }
}

/// Runs jobs on a serial dispatch queue of their own, outside Swift concurrency's pool.
final class BlockingExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "capsule.e2e.blocking")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Runs a test body that blocks (process waits, sleeps, zmq_poll) off the cooperative pool, which has
/// only as many threads as cores. It is still the test's own task, so every expectation and recorded
/// issue belongs to the test as before.
func blocking<T>(_ body: () throws -> T) async throws -> T {
    try await withTaskExecutorPreference(BlockingExecutor()) { try body() }
}
