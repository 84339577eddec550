import Foundation
import Synchronization

// Small helpers shared by every figure: clocks, threads, summaries and formatting.

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Monotonic time in seconds.
func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A plain OS thread that can be joined with a bound. Sockets are created and used inside `body`.
final class BenchThread: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let failure = Mutex<String?>(nil)

    init(name: String, _ body: @escaping @Sendable () throws -> Void) {
        let thread = Thread { [self] in
            do {
                try body()
            } catch {
                failure.withLock { $0 = "\(name): \(error)" }
            }
            done.signal()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Waits at most `seconds` for the thread to end; throws if it did not, or if its body threw.
    func join(seconds: Double) throws {
        if done.wait(timeout: .now() + seconds) == .timedOut {
            throw BenchError("a benchmark thread did not finish within \(Int(seconds)) s")
        }
        if let message = failure.withLock({ $0 }) { throw BenchError(message) }
    }
}

/// A one-shot value handed from one thread to another.
final class Handoff<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func put(_ newValue: Value) {
        value.withLock { $0 = newValue }
        ready.signal()
    }

    func take(seconds: Double, what: String) throws -> Value {
        if ready.wait(timeout: .now() + seconds) == .timedOut { throw BenchError("timed out waiting for \(what)") }
        return value.withLock { $0! }
    }
}

/// How long the audit writer took to store a backlog (`BenchCluster.timeReplay`).
struct ReplayTiming {
    var events: Int
    /// From the audit writer's start to the last event stored.
    var seconds: Double
    /// Events stored after the first ones were seen, and the time from then to the last.
    var sustainedEvents: Int
    var sustainedSeconds: Double

    var rate: Double { Double(events) / seconds }
    var sustainedRate: Double { sustainedSeconds > 0 ? Double(sustainedEvents) / sustainedSeconds : rate }
}

/// min / median / max of a few repetitions.
struct Summary {
    var values: [Double]
    var min: Double { values.min() ?? .nan }
    var max: Double { values.max() ?? .nan }
    var median: Double { percentile(values, 0.5) }
}

/// Nearest-rank percentile of unsorted samples (p in 0...1).
func percentile(_ samples: [Double], _ p: Double) -> Double {
    guard !samples.isEmpty else { return .nan }
    let sorted = samples.sorted()
    if p == 0.5 && sorted.count % 2 == 0 {
        return (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
    let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
    return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank))]
}

/// 612k, 1.23M, 950.
func rate(_ value: Double) -> String {
    guard value.isFinite else { return "n/a" }
    if value >= 1e6 { return String(format: "%.2fM", value / 1e6) }
    if value >= 1e4 { return String(format: "%.0fk", value / 1e3) }
    if value >= 1e3 { return String(format: "%.1fk", value / 1e3) }
    return String(format: "%.0f", value)
}

func micros(_ value: Double) -> String {
    guard value.isFinite else { return "n/a" }
    return value >= 100 ? String(format: "%.0f µs", value) : String(format: "%.1f µs", value)
}

func count(_ value: Int) -> String {
    let text = String(value)
    var out = ""
    for (i, ch) in text.reversed().enumerated() {
        if i > 0 && i % 3 == 0 && ch != "-" { out.append(",") }
        out.append(ch)
    }
    return String(out.reversed())
}

/// "41.2k msgs/s (min 39.8k, max 42.0k)".
func rateSummary(_ s: Summary, unit: String = "msgs/s") -> String {
    "\(rate(s.median)) \(unit) (min \(rate(s.min)), max \(rate(s.max)))"
}

func microSummary(_ s: Summary) -> String {
    "\(micros(s.median)) (min \(micros(s.min)), max \(micros(s.max)))"
}

/// Progress lines go to stderr so stdout holds only the table.
func progress(_ text: String) {
    FileHandle.standardError.write(Data(("· " + text + "\n").utf8))
}

/// CPU time (user + system, seconds) used so far by a process, from /proc/<pid>/stat.
func cpuSeconds(pid: Int32) -> Double? { cpuSeconds(stat: "/proc/\(pid)/stat") }

/// CPU seconds of a process's libzmq I/O threads (named `ZMQbg/…`): libzmq's own work (CURVE,
/// ZMTP framing, the socket reads and writes). What the rest of the process spends is its own code
/// plus the libzmq calls it makes on its own threads, so that share is an upper bound on its own.
func zmqThreadCPUSeconds(pid: Int32) -> Double {
    let tasks = "/proc/\(pid)/task"
    guard let threads = try? FileManager.default.contentsOfDirectory(atPath: tasks) else { return 0 }
    var total = 0.0
    for thread in threads {
        guard let name = try? String(contentsOfFile: "\(tasks)/\(thread)/comm", encoding: .utf8),
            name.hasPrefix("ZMQbg")
        else { continue }
        total += cpuSeconds(stat: "\(tasks)/\(thread)/stat") ?? 0
    }
    return total
}

private func cpuSeconds(stat path: String) -> Double? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    // Fields after the command name; utime and stime are fields 14 and 15 (1-based) of the whole line.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (utime + stime) / ticks
}
