import CapsuleDaemon
import CapsuleHTTP
import CapsuleRuntime
import CapsuleTestSupport
import CapsuleZMQ
import Foundation
import Logging
import Metrics
import Testing

/// The daemon shell: READY once the loop runs, WATCHDOG from the loop thread, STOPPING on the way
/// out, and /metrics served off the loop.
@Suite(.serialized)
struct DaemonRunnerTests {
    final class IdleCore: LoopCore {
        func shutdown() {}
    }

    @Test func readyThenWatchdogPingsThenStopping() async throws {
        let systemd = try SystemdNotifierTests.FakeSystemd()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "200000"])
        let loop = LoopService(thread: LoopThread(name: "test-loop", context: ZMQContext()) { _ in IdleCore() })
        let task = Task {
            try await DaemonRunner.run(
                loop,
                program: "test",
                metrics: nil,
                logger: Logger(label: "test"),
                readyStatus: "idle",
                notifier: notifier,
                signals: []
            )
        }
        // The runner's task needs a thread of Swift concurrency's pool, which the rest of the suite
        // keeps busy (two threads on two cores): wait for it as long as it takes, within reason.
        let received = await onThread { () -> [String] in
            var seen: [String] = []
            let deadline = Date().addingTimeInterval(300)
            while seen.filter({ $0 == "WATCHDOG=1\n" }).count < 2, Date() < deadline {
                if let next = systemd.receive() { seen.append(next) }
            }
            return seen
        }
        #expect(received.first?.hasPrefix("READY=1\n") == true)
        #expect(received.filter { $0 == "WATCHDOG=1\n" }.count == 2)
        task.cancel()
        _ = try? await task.value
        let last = await onThread { () -> String? in
            let deadline = Date().addingTimeInterval(300)
            while Date() < deadline {
                if let next = systemd.receive(), next != "WATCHDOG=1\n" { return next }
            }
            return nil
        }
        #expect(last == "STOPPING=1\n")
    }

    @Test func metricsAreServedInPrometheusTextFormat() async throws {
        let registry = MetricsSetup.makeRegistry(program: "capsule-test")
        let factory = MetricsSetup.factory(registry)
        Counter(label: "capsule_test_events_total", dimensions: [("kind", "heartbeat")], factory: factory).increment(
            by: 3
        )
        let bound = BoundPort()
        let listener = HTTPListener(
            bind: HTTPBindAddress(host: "127.0.0.1", port: 0),
            name: "metrics",
            logger: Logger(label: "test"),
            onListening: { bound.set($0.port) },
            routes: MetricsRoutes.install(registry, program: "capsule-test")
        )
        let task = Task { try await listener.run() }
        defer { task.cancel() }
        let port = try await bound.wait()
        let (status, body) = try await onThread { try HTTPGet.fetchPatiently(port: port, path: "/metrics") }
        #expect(status == 200)
        #expect(body.contains("capsule_test_events_total{kind=\"heartbeat\"} 3"))
        #expect(body.contains("capsule_build_info{"))
        #expect(body.contains("program=\"capsule-test\""))
        let (missing, _) = try await onThread { try HTTPGet.fetchPatiently(port: port, path: "/nothing") }
        #expect(missing == 404)
    }

    @Test(arguments: [("127.0.0.1:9401", "127.0.0.1", 9401), ("[::1]:9402", "::1", 9402), ("0.0.0.0:0", "0.0.0.0", 0)])
    func bindAddressesParse(_ text: String, _ host: String, _ port: Int) throws {
        #expect(try HTTPBindAddress.parse(text) == HTTPBindAddress(host: host, port: port))
    }

    @Test(arguments: ["9401", "localhost", ":9401", "127.0.0.1:99999", "127.0.0.1:x", "[::1"])
    func badBindAddressesAreRefused(_ text: String) {
        #expect(throws: HTTPBindError.self) { try HTTPBindAddress.parse(text) }
    }

    @Test func offDisablesTheListener() throws {
        #expect(try HTTPBindAddress.parse("off") == nil)
        #expect(try MetricsListener.from("off", program: "x") == nil)
    }
}

/// The port a listener bound, handed from its callback to the test.
final class BoundPort: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int?

    func set(_ value: Int) { lock.withLock { port = value } }

    func wait() async throws -> Int {
        for _ in 0..<100 {
            if let port = lock.withLock({ port }) { return port }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw POSIXError(.ETIMEDOUT)
    }
}

/// Runs blocking work on a thread of its own, not on Swift concurrency's pool: with two cores the
/// pool has two threads, and a blocking receive there starves the very task it waits for.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// ``LoopbackHTTP/get(port:path:timeoutSeconds:)`` again until a response arrives (the server's
/// handlers may wait for a thread of the busy concurrency pool), for up to 300 s.
enum HTTPGet {
    static func fetchPatiently(port: Int, path: String) throws -> (status: Int, body: String) {
        let deadline = Date().addingTimeInterval(300)
        while true {
            let answer = try LoopbackHTTP.get(port: port, path: path)
            if answer.status != 0 || Date() >= deadline { return answer }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }
}
