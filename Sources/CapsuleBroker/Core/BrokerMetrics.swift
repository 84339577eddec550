import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import CoreMetrics
import Foundation
import Metrics

/// The broker's metrics, through the swift-metrics API (the executable picks the backend; without
/// one every call is a no-op). Each metric is created once; labels take a few fixed values only,
/// never one per agent.
struct BrokerMetrics {
    private let heartbeats = Counter(label: "capsule_broker_heartbeats_received_total")
    private let forwarded = Counter(label: "capsule_broker_messages_forwarded_total")
    private let connectedAgents = Gauge(label: "capsule_broker_connected_peers", dimensions: [("kind", "agent")])
    private let connectedServices = Gauge(label: "capsule_broker_connected_peers", dimensions: [("kind", "service")])
    private let principals = Gauge(label: "capsule_broker_principals")
    private let liveCommands = Gauge(label: "capsule_broker_commands_live")
    private let commandsCreated = Counter(label: "capsule_broker_commands_created_total")
    private let journalDepth = Gauge(label: "capsule_journal_depth_events", dimensions: [("publisher", "broker")])
    private let finished: [CommandStatus: Counter]
    private let roundTrip: [CommandStatus: Metrics.Timer]
    private let zap: [String: Counter]

    /// ZAP domains and outcomes: 200 accepted, 300 deferred (retry later), 400 refused.
    static let zapDomains = ["ingest", "bus", "router"]
    static let zapOutcomes = ["200": "accepted", "300": "deferred", "400": "refused"]

    init() {
        var finished: [CommandStatus: Counter] = [:]
        for status in CommandStatus.allCases where status.isTerminal {
            finished[status] = Counter(
                label: "capsule_broker_commands_finished_total",
                dimensions: [("status", status.rawValue)]
            )
        }
        self.finished = finished
        roundTrip = [
            .succeeded: Metrics.Timer(
                label: "capsule_broker_command_round_trip_seconds",
                dimensions: [("status", "SUCCEEDED")]
            ),
            .failed: Metrics.Timer(
                label: "capsule_broker_command_round_trip_seconds",
                dimensions: [("status", "FAILED")]
            ),
        ]
        var zap: [String: Counter] = [:]
        for domain in Self.zapDomains + ["other"] {
            for outcome in Self.zapOutcomes.values.sorted() + ["other"] {
                zap["\(domain)|\(outcome)"] = Counter(
                    label: "capsule_broker_zap_decisions_total",
                    dimensions: [("domain", domain), ("decision", outcome)]
                )
            }
        }
        self.zap = zap
    }

    func heartbeat() { heartbeats.increment() }
    func forwardedOne() { forwarded.increment() }
    func created() { commandsCreated.increment() }

    /// The gauges the broker's tick refreshes.
    func peers(agents: Int, services: Int, principals count: Int, liveCommands live: Int) {
        connectedAgents.record(agents)
        connectedServices.record(services)
        principals.record(count)
        liveCommands.record(live)
    }

    /// Rows the journal holds that the audit writer has not acknowledged (one indexed read).
    func measureJournal(_ journal: EventJournal, store: any SQLStore) {
        if let depth = try? store.read({ db in try journal.depth(db) }) { journalDepth.record(depth) }
    }

    func zapDecision(domain: String, status: String) {
        let domain = Self.zapDomains.contains(domain) ? domain : "other"
        zap["\(domain)|\(Self.zapOutcomes[status] ?? "other")"]?.increment()
    }

    /// A command reached a terminal status: its outcome, and for results, the round trip from
    /// creation to completion.
    func finished(_ record: CommandRecord) {
        finished[record.status]?.increment()
        if let timer = roundTrip[record.status], let completed = record.completedAt {
            timer.recordNanoseconds(Int64(max(0, completed.timeIntervalSince(record.createdAt)) * 1_000_000_000))
        }
    }
}
