import Logging
import Synchronization
import Testing

@testable import CapsuleBroker

/// Keeps what a logger was asked to write.
final class CapturedLog: Sendable {
    private let lines = Mutex<[LogEvent]>([])
    var events: [LogEvent] { lines.withLock { $0 } }
    func append(_ event: LogEvent) { lines.withLock { $0.append(event) } }

    var logger: Logger {
        Logger(label: "test") { _ in CapturingHandler(log: self) }
    }
}

struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { log.append(event) }
}

struct DropCounterTests {
    @Test func dropsAreCountedByReason() {
        let log = CapturedLog()
        var counter = DropCounter()
        counter.drop("oversized", sender: "agt_1", detail: "body of 300000 bytes", logger: log.logger, now: 10)
        counter.drop("oversized", sender: "agt_2", detail: "topic", logger: log.logger, now: 10)
        counter.drop("rate_limited", sender: "agt_1", detail: "", logger: log.logger, now: 10)
        #expect(counter.counts == ["oversized": 2, "rate_limited": 1])
        #expect(counter.total == 3)
    }

    @Test func eachDropIsLoggedWithItsReasonPeerAndRunningCount() throws {
        let log = CapturedLog()
        var counter = DropCounter()
        counter.drop("not_allowed", sender: "agt_1", detail: "event on ingest", logger: log.logger, now: 5)
        counter.drop("not_allowed", sender: "agt_1", detail: "event on ingest", logger: log.logger, now: 5)
        let last = try #require(log.events.last)
        #expect(last.level == .warning)
        #expect(last.message.description == "Dropped a message.")
        #expect(last.metadata?["drop.reason"] == "not_allowed")
        #expect(last.metadata?["peer"] == "agt_1")
        #expect(last.metadata?["drop.detail"] == "event on ingest")
        #expect(last.metadata?["drop.count"] == "2")
    }

    @Test func aFloodLogsAtMostTwentyLinesASecondButCountsEverything() {
        let log = CapturedLog()
        var counter = DropCounter()
        for i in 0..<1_000 {
            counter.drop(
                "malformed_body",
                sender: "agt_\(i)",
                detail: "",
                logger: log.logger,
                now: 100 + Double(i) / 1_000
            )
        }
        #expect(log.events.count == 20)
        #expect(counter.counts["malformed_body"] == 1_000)
        // The next second may log again.
        for _ in 0..<30 { counter.drop("malformed_body", sender: "agt_x", detail: "", logger: log.logger, now: 101.5) }
        #expect(log.events.count == 40)
        #expect(counter.total == 1_030)
    }
}
