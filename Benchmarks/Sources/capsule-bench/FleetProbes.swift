import CZeroMQ
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Synchronization

// Probes the fleet driver reads: /proc figures, the simulated workers' stats lines, the bus.

/// Resident set size of a process in KiB, from /proc/<pid>/status VmRSS.
func rssKiB(pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }
    return nil
}

/// Seconds of stall recorded in /proc/pressure/<resource> so far: `line` is "some" (at least one task
/// stalled) or "full" (every non-idle task stalled). Other engineers share this machine; the report
/// shows how much of each window the machine itself was stalled.
func pressureSeconds(_ resource: String, _ line: String) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/pressure/\(resource)", encoding: .utf8) else { return nil }
    for row in text.split(separator: "\n") where row.hasPrefix(line + " ") {
        for field in row.split(separator: " ") where field.hasPrefix("total=") {
            return Double(field.dropFirst(6)).map { $0 / 1e6 }
        }
    }
    return nil
}

/// Memory-full and CPU-some stall over a window, in seconds.
struct PressureWindow {
    private let memory = pressureSeconds("memory", "full")
    private let cpu = pressureSeconds("cpu", "some")
    var text: String {
        let m = memory.flatMap { a in pressureSeconds("memory", "full").map { $0 - a } }
        let c = cpu.flatMap { a in pressureSeconds("cpu", "some").map { $0 - a } }
        return String(format: "memory-full stall %.1f s, cpu-some stall %.1f s", m ?? .nan, c ?? .nan)
    }
}

/// CPU of a set of processes over a window, as % of one core.
struct CPUWindow {
    private var start: [Int32: Double] = [:]
    private var startedAt = monotonic()

    init(_ pids: [Int32]) { reset(pids) }

    mutating func reset(_ pids: [Int32]) {
        startedAt = monotonic()
        start = [:]
        for pid in pids { start[pid] = cpuSeconds(pid: pid) ?? 0 }
    }

    /// % of one core each pid used since the window opened (a pid that exited reads nil).
    func percent(_ pid: Int32) -> Double? {
        guard let begin = start[pid], let end = cpuSeconds(pid: pid) else { return nil }
        let elapsed = monotonic() - startedAt
        return elapsed > 0 ? (end - begin) / elapsed * 100 : nil
    }

    func percent(_ pids: [Int32]) -> Double { pids.compactMap { percent($0) }.reduce(0, +) }
    var elapsed: Double { monotonic() - startedAt }
}

/// A simulated worker process (or the raw server): started at a niceness, fed commands on stdin,
/// read one JSON line at a time on stdout.
final class FleetChild: @unchecked Sendable {
    let name: String
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let latest = Mutex<Data?>(nil)
    private let log: FileHandle?

    init(name: String, executable: URL, arguments: [String], nice: Int32, logFile: URL) throws {
        self.name = name
        if nice > 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
            process.arguments = ["-n", "\(nice)", executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAPSULE_") }
        process.standardInput = input
        process.standardOutput = output
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        log = try? FileHandle(forWritingTo: logFile)
        process.standardError = log ?? FileHandle.nullDevice
        try process.run()
        startedDaemons.withLock { $0.append(process.processIdentifier) }
        let handle = output.fileHandleForReading
        Thread { [self] in
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = buffer[buffer.startIndex..<newline]
                    buffer = Data(buffer[buffer.index(after: newline)...])
                    if !line.isEmpty { self.latest.withLock { $0 = Data(line) } }
                }
            }
        }.start()
    }

    var pid: Int32 { process.processIdentifier }

    func send(_ line: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    func decode<T: Decodable>(_ type: T.Type) -> T? {
        guard let data = latest.withLock({ $0 }) else { return nil }
        return try? JSONDecoder().decode(T.self, from: data)
    }

    /// Closes stdin (the child ends itself), then waits up to `seconds` before SIGKILL.
    func stop(seconds: Double = 10) {
        send("quit")
        try? input.fileHandleForWriting.close()
        let deadline = monotonic() + seconds
        while process.isRunning && monotonic() < deadline { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        startedDaemons.withLock { $0.removeAll { $0 == self.pid } }
    }

    func sigkill() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
        startedDaemons.withLock { $0.removeAll { $0 == self.pid } }
    }
}

/// What the raw server prints once a second.
struct RawServerStats: Decodable {
    var ingest: Int
    var router: Int
    var zap: Int
    var distinct: Int
}

/// Services per effectiveStatus, as the fleet driver counts them.
struct StatusCounts: Sendable, Equatable {
    var byStatus: [String: Int] = [:]
    subscript(_ status: String) -> Int { byStatus[status] ?? 0 }
    var total: Int { byStatus.values.reduce(0, +) }
    var text: String {
        ["HEALTHY", "UNHEALTHY", "STALE", "OFFLINE", "UNKNOWN"].map { "\($0.prefix(4).lowercased()) \(self[$0])" }
            .joined(separator: " ")
    }

    /// Finds `{STATUS: number}` pairs anywhere in a reply (the shape of a future `status.summary`).
    static func find(in value: JSONValue) -> StatusCounts? {
        let names: Set<String> = ["HEALTHY", "UNHEALTHY", "STALE", "OFFLINE", "UNKNOWN"]
        switch value {
        case .object(let object):
            var found: [String: Int] = [:]
            for (key, v) in object where names.contains(key.uppercased()) {
                if let n = v.intValue { found[key.uppercased()] = n }
            }
            if !found.isEmpty { return StatusCounts(byStatus: found) }
            for key in object.keys.sorted() { if let inner = find(in: object[key]!) { return inner } }
            return nil
        case .array(let items):
            for item in items { if let inner = find(in: item) { return inner } }
            return nil
        default:
            return nil
        }
    }
}

/// A SUB on the broker's bus with the local owner's key (the bus admits operators): follows every
/// `evt.` event, `evt.service.transition` to count services per effectiveStatus, `evt.command.succeeded` to time
/// command bursts, `beacon.aggregator` to see gaps in the aggregator's journal (filled with
/// `journal.replay`, as the audit writer does), and, only while asked, `hb.` to see which agents'
/// heartbeats reach the bus (the reconnect curve). It runs on its own thread.
final class BusWatcher: Sendable {
    private struct State {
        var status: [String: String] = [:]
        var lastAggregatorSeq: UInt64 = 0
        var beaconSeq: UInt64 = 0
        var gapsFilled = 0
        var gapsMissed = 0
        var commandsSucceeded = 0
        var commandsFailed = 0
        var heartbeatsSeen = 0
        var heartbeatAgents = Set<String>()
        var events = 0
        var watchHeartbeats = false
        var subscriptionChanged = false
    }

    private let state = Mutex(State())
    private let stopFlag = StopFlag()
    private let done = DispatchSemaphore(value: 0)

    init(home: CapsuleHome) throws {
        let (info, serverKey) = try BrokerInfo.resolve(home: home)
        let keyPair = try KeyFile.read(home.keyFile("bench-probe"))
        let operatorKey = try KeyFile.read(home.keyFile("operator"))
        let ready = Handoff<String>()
        Thread { [self] in
            defer { done.signal() }
            do {
                let context = ZMQContext()
                var options = ZMQSocketOptions()
                options.linger = 0
                options.reconnectInterval = 200
                options.handshakeInterval = 5_000
                options.receiveHighWaterMark = 0
                let sub = try SocketFactory.client(
                    .sub,
                    context: context,
                    endpoint: info.bus,
                    keyPair: keyPair,
                    serverKey: serverKey,
                    options: options
                )
                defer { sub.close() }
                // Every event: the aggregator numbers all of its events in one sequence, so a gap is only a gap if
                // the subscription takes them all.
                for prefix in ["evt.", "beacon.aggregator"] { try sub.subscribe(prefix) }
                let requests = try RequestClient(
                    endpoint: info.router,
                    keyPair: operatorKey,
                    serverKey: serverKey,
                    sender: "operator:local-owner",
                    timeout: 5
                )
                ready.put("ok")
                var poller = ZMQPoller()
                poller.add(sub)
                var watching = false
                while !stopFlag.isSet {
                    let change = state.withLock { s -> Bool? in
                        guard s.subscriptionChanged else { return nil }
                        s.subscriptionChanged = false
                        return s.watchHeartbeats
                    }
                    if let change, change != watching {
                        watching = change
                        try sub.setOption(change ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, string: "hb.")
                    }
                    _ = try poller.poll(timeoutMilliseconds: 100)
                    var budget = 5_000
                    while budget > 0, let message = try sub.receive(maxFrames: 4, maxBytes: 1 << 20) {
                        budget -= 1
                        guard message.frames.count == 3 else { continue }
                        let topic = String(decoding: message.frames[0], as: UTF8.self)
                        if topic.hasPrefix("hb.") {
                            let agent = String(topic.dropFirst(3))
                            state.withLock {
                                $0.heartbeatsSeen += 1
                                $0.heartbeatAgents.insert(agent)
                            }
                            continue
                        }
                        guard let decoded = try? WireCodec.decode(message.frames, hasTopic: true) else { continue }
                        if decoded.header.type == .beacon {
                            if let beacon = try? decoded.decode(Beacon.self) {
                                state.withLock { $0.beaconSeq = max($0.beaconSeq, beacon.lastSeq) }
                            }
                            continue
                        }
                        guard let event = try? decoded.decode(AuditEvent.self) else { continue }
                        self.apply(event)
                    }
                    // A gap in the aggregator's stream (say, while the broker was down): replay it.
                    let (last, beacon) = state.withLock { ($0.lastAggregatorSeq, $0.beaconSeq) }
                    if beacon > last, last > 0 {
                        if let events = try? requests.call(
                            [AuditEvent].self,
                            "aggregator",
                            "journal.replay",
                            .object(["after": .number(Double(last))]),
                            timeout: 5
                        ) {
                            let first = events.first?.seq ?? 0
                            state.withLock {
                                if first > last + 1 { $0.gapsMissed += Int(first - last - 1) }
                                $0.gapsFilled += events.count
                            }
                            for event in events { self.apply(event, replayed: true) }
                            if events.isEmpty {
                                state.withLock { $0.lastAggregatorSeq = max($0.lastAggregatorSeq, beacon) }
                            }
                        }
                    }
                }
            } catch {
                ready.put("bus watcher: \(error)")
            }
        }.start()
        let status = try ready.take(seconds: 15, what: "the bus watcher")
        if status != "ok" { throw BenchError(status) }
    }

    private func apply(_ event: AuditEvent, replayed: Bool = false) {
        state.withLock { s in
            if event.publisher == "aggregator" {
                if event.seq <= s.lastAggregatorSeq && s.lastAggregatorSeq > 0 { return }
                if !replayed && s.lastAggregatorSeq > 0 && event.seq > s.lastAggregatorSeq + 1 {
                    // Leave lastAggregatorSeq where it is so the loop replays the gap.
                    s.beaconSeq = max(s.beaconSeq, event.seq)
                    return
                }
                s.lastAggregatorSeq = event.seq
            }
            s.events += 1
            switch event.action {
            case "service.transition":
                let code = event.subject.hasPrefix("service:") ? String(event.subject.dropFirst(8)) : event.subject
                if let to = event.to { s.status[code] = to }
            case "command.succeeded": s.commandsSucceeded += 1
            case "command.failed": s.commandsFailed += 1
            default: break
            }
        }
    }

    var counts: StatusCounts {
        state.withLock { s in
            var counts = StatusCounts()
            for status in s.status.values { counts.byStatus[status, default: 0] += 1 }
            return counts
        }
    }

    /// Counts over the services whose code passes `filter`.
    func counts(where filter: (String) -> Bool) -> StatusCounts {
        state.withLock { s in
            var counts = StatusCounts()
            for (code, status) in s.status where filter(code) { counts.byStatus[status, default: 0] += 1 }
            return counts
        }
    }

    var commandsSucceeded: Int { state.withLock { $0.commandsSucceeded } }
    var gaps: (filled: Int, missed: Int) { state.withLock { ($0.gapsFilled, $0.gapsMissed) } }
    var heartbeatAgents: Int { state.withLock { $0.heartbeatAgents.count } }

    func watchHeartbeats(_ on: Bool) {
        state.withLock {
            $0.watchHeartbeats = on
            $0.subscriptionChanged = true
            $0.heartbeatAgents.removeAll()
        }
    }

    func stop() {
        stopFlag.set()
        _ = done.wait(timeout: .now() + 10)
    }
}
