import CapsuleRuntime
import Foundation
import Synchronization

/// Process ids of the daemons this run started, so every exit path (normal, error, SIGINT/SIGTERM) can end them.
let startedDaemons = Mutex<[Int32]>([])

/// The temporary home to remove if a signal ends the run (nil when --keep-home).
let homeToRemove = Mutex<String?>(nil)

/// Ends every daemon this run started: SIGTERM, up to 3 s of grace, then SIGKILL.
func endStartedDaemons() {
    let pids = startedDaemons.withLock { pids in
        defer { pids.removeAll() }
        return pids
    }
    for pid in pids { kill(pid, SIGTERM) }
    let deadline = monotonic() + 3
    for pid in pids {
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 && monotonic() < deadline { usleep(20_000) }
        if kill(pid, 0) == 0 {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
        }
    }
}

/// The real `capsule-broker` and `capsule-aggregator` on loopback with a temporary home.
final class BenchCluster {
    let bin: URL
    let home: URL
    let ports: (ingest: Int, bus: Int, router: Int)
    let keepHome: Bool
    private(set) var broker: Process?
    private(set) var aggregator: Process?
    private(set) var audit: Process?
    /// Extra flags for every daemon (`--store postgres://…` for the PostgreSQL figures).
    var daemonArguments: [String] = []

    var capsuleHome: CapsuleHome { CapsuleHome(path: home.path) }

    init(bin: URL, keepHome: Bool) throws {
        self.bin = bin
        self.keepHome = keepHome
        for tool in ["capsule-broker", "capsule-aggregator", "capsulectl"]
        where !FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent(tool).path) {
            throw BenchError(
                "\(tool) not found in \(bin.path); build it into the same scratch path (Benchmarks/run.sh does)"
            )
        }
        home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsule-bench-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        if !keepHome { homeToRemove.withLock { [path = home.path] in $0 = path } }
        var chosen: [Int] = []
        while chosen.count < 3 {
            let port = Self.freePort()
            if !chosen.contains(port) { chosen.append(port) }
        }
        ports = (chosen[0], chosen[1], chosen[2])
    }

    func log(_ name: String) -> URL { home.appendingPathComponent("\(name).log") }

    /// An environment without CAPSULE_* variables, so nothing but our flags configures the daemons.
    private var cleanEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAPSULE_") }
    }

    /// Starts `tool` from `directory` (default: the daemons' `bin`), its output in `<name>.log`; every exit path ends it.
    func launch(_ name: String, _ tool: String, _ arguments: [String], from directory: URL? = nil) throws -> Process {
        let process = Process()
        process.executableURL = (directory ?? bin).appendingPathComponent(tool)
        process.arguments = arguments
        process.environment = cleanEnvironment
        _ = FileManager.default.createFile(atPath: log(name).path, contents: nil)
        let handle = try FileHandle(forWritingTo: log(name))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        startedDaemons.withLock { $0.append(process.processIdentifier) }
        return process
    }

    func start() throws {
        broker = try launch(
            "broker",
            "capsule-broker",
            [
                "--home", home.path,
                "--ingest-bind", "tcp://127.0.0.1:\(ports.ingest)", "--bus-bind", "tcp://127.0.0.1:\(ports.bus)",
                "--router-bind", "tcp://127.0.0.1:\(ports.router)",
                "--max-messages-per-second", "1000000", "--burst-messages", "1000000",
            ] + daemonArguments
        )
        let brokerJSON = home.appendingPathComponent("broker.json")
        let operatorKey = capsuleHome.keyFile("operator")
        try waitFor("broker.json and keys/operator.key", seconds: 20) {
            FileManager.default.fileExists(atPath: brokerJSON.path)
                && FileManager.default.fileExists(atPath: operatorKey.path)
        }
        aggregator = try launch("aggregator", "capsule-aggregator", ["--home", home.path] + daemonArguments)
    }

    /// Starts (or restarts) the audit writer.
    func startAudit() throws {
        audit = try launch("audit", "capsule-audit", ["--home", home.path] + daemonArguments)
    }

    /// Starts the audit writer and times it storing `events` more than `stored()` holds now: from its start to
    /// the last event, and from the first event it stored to the last (its sustained rate, without
    /// the process's start and its first page's wait). Every 10 ms it reads `highestID()`, the
    /// table's largest row id, which costs an index lookup; only once that has moved `events` past
    /// its first value (each new row has a new, larger id) does it count the rows, so the probe adds
    /// no table scans to what it measures but two: when the first rows appear (those already stored
    /// then are left out of the sustained rate) and at the end.
    func timeReplay(
        events: Int,
        highestID: () throws -> Int,
        stored: () throws -> Int
    ) throws -> ReplayTiming {
        let before = try stored()
        let idBefore = try highestID()
        let start = monotonic()
        try startAudit()
        var first: (at: Double, stored: Int)?
        try waitFor("the audit writer to store the backlog", seconds: 900, every: 0.01) {
            let id = try highestID()
            if first == nil, id > idBefore { first = (monotonic(), try stored()) }
            guard id - idBefore >= events else { return false }
            return try stored() >= before + events
        }
        let end = monotonic()
        return ReplayTiming(
            events: events,
            seconds: end - start,
            sustainedEvents: before + events - (first?.stored ?? before),
            sustainedSeconds: end - (first?.at ?? end)
        )
    }

    /// Stops the audit writer (SIGTERM, then SIGKILL after 5 s).
    func stopAudit() {
        guard let audit, audit.isRunning else { return }
        kill(audit.processIdentifier, SIGTERM)
        let deadline = monotonic() + 5
        while audit.isRunning && monotonic() < deadline { usleep(10_000) }
        if audit.isRunning { kill(audit.processIdentifier, SIGKILL) }
        audit.waitUntilExit()
    }

    func waitFor(_ what: String, seconds: Double, every interval: Double = 0.1, _ condition: () throws -> Bool) throws {
        let deadline = monotonic() + seconds
        while monotonic() < deadline {
            if try condition() { return }
            for (name, process) in [("broker", broker), ("aggregator", aggregator)] {
                if let process, !process.isRunning {
                    throw BenchError("\(name) exited (status \(process.terminationStatus)); log: \(tail(name))")
                }
            }
            Thread.sleep(forTimeInterval: interval)
        }
        throw BenchError(
            "timed out after \(Int(seconds)) s waiting for \(what); broker log: \(tail("broker")) aggregator log: \(tail("aggregator"))"
        )
    }

    func tail(_ name: String) -> String {
        let text = (try? String(contentsOf: log(name), encoding: .utf8)) ?? ""
        return String(text.suffix(600))
    }

    /// Mints a one-time registration token with `capsulectl token create` (bounded to 20 s).
    func mintToken(name: String) throws -> String {
        let process = Process()
        process.executableURL = bin.appendingPathComponent("capsulectl")
        process.arguments = ["token", "create", "--name", name, "--expires", "10m", "--home", home.path]
        process.environment = cleanEnvironment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = monotonic() + 20
        while process.isRunning && monotonic() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw BenchError("capsulectl token create did not finish within 20 s")
        }
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let token = stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, !token.isEmpty else {
            throw BenchError("capsulectl token create failed (\(process.terminationStatus)): \(stderr.prefix(300))")
        }
        return token
    }

    /// Stops both daemons and removes the temporary home (unless asked to keep it).
    func stop() {
        endStartedDaemons()
        if keepHome {
            progress("kept the bench home at \(home.path)")
        } else {
            try? FileManager.default.removeItem(at: home)
        }
    }

    static func freePort() -> Int { LoopbackPort.free() }
}
