import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import CoreMetrics
import Metrics

/// The aggregator's metrics, through the swift-metrics API. Each metric is created once; labels
/// are statuses and fixed reasons, never an agent or a service.
struct AggregatorMetrics {
    private let heartbeats = Counter(label: "capsule_aggregator_heartbeats_received_total")
    private let received = Counter(label: "capsule_aggregator_messages_received_total")
    private let journalDepth = Gauge(label: "capsule_journal_depth_events", dimensions: [("publisher", "aggregator")])
    /// 1 while the broker's bus is silent and aging is held, else 0.
    private let feedLost = Gauge(label: "capsule_aggregator_feed_lost")
    private let services: [String: Gauge]
    private let agents: [String: Gauge]
    private let transitions: [String: Counter]
    private let drops: [String: Counter]

    static let dropReasons = ["malformed", "undecodable", "identity_mismatch"]

    func feedLost(_ lost: Bool) { feedLost.record(lost ? 1 : 0) }

    init() {
        services = Dictionary(
            uniqueKeysWithValues: EffectiveStatus.allCases.map {
                ($0.rawValue, Gauge(label: "capsule_aggregator_services", dimensions: [("status", $0.rawValue)]))
            }
        )
        agents = Dictionary(
            uniqueKeysWithValues: AgentStatus.allCases.map {
                ($0.rawValue, Gauge(label: "capsule_aggregator_agents", dimensions: [("status", $0.rawValue)]))
            }
        )
        transitions = Dictionary(
            uniqueKeysWithValues: ["agent", "service"].map {
                ($0, Counter(label: "capsule_aggregator_transitions_total", dimensions: [("kind", $0)]))
            }
        )
        drops = Dictionary(
            uniqueKeysWithValues: Self.dropReasons.map {
                ($0, Counter(label: "capsule_aggregator_drops_total", dimensions: [("reason", $0)]))
            }
        )
    }

    /// Services per effectiveStatus and agents per status, from the board's running counts.
    func record(_ summary: StatusSummary) {
        for (status, gauge) in services { gauge.record(summary.services[status] ?? 0) }
        for (status, gauge) in agents { gauge.record(summary.agents[status] ?? 0) }
    }

    func transition(_ kind: String) { transitions[kind]?.increment() }

    func heartbeat() { heartbeats.increment() }
    func receivedOne() { received.increment() }

    func measureJournal(_ journal: EventJournal, store: any SQLStore) {
        if let depth = try? store.read({ db in try journal.depth(db) }) { journalDepth.record(depth) }
    }

    func dropped(_ reason: String) { drops[reason]?.increment() }
}
