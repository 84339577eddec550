import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

/// Everything the audit writer needs to start.
package struct AuditConfiguration: Sendable {
    package var home: CapsuleHome
    package var broker: BrokerInfo
    package var brokerKey: CurveKey
    package var keyPair: CurveKeyPair
    /// Events older than this many days are deleted (hourly); 0 keeps everything.
    package var retentionDays: Int
    package var now: @Sendable () -> Date

    package init(home: CapsuleHome, broker: BrokerInfo, brokerKey: CurveKey, keyPair: CurveKeyPair, retentionDays: Int = 90,
                 now: @escaping @Sendable () -> Date = Date.init) {
        self.retentionDays = retentionDays
        self.home = home
        self.broker = broker
        self.brokerKey = brokerKey
        self.keyPair = keyPair
        self.now = now
    }
}

/// The audit writer: stores every event once, and replays from a publisher's journal whenever it
/// sees a gap, a beacon ahead of its cursor, or its own restart (the Clone pattern).
final class AuditCore: LoopCore {
    static let maxReplyBytes = 192 * 1024
    let configuration: AuditConfiguration
    let store: AuditStore
    let logger: Logger
    let subscriber: ZMQSocket
    let link: WorkerLink
    var cursors: [String: UInt64]
    var replaying: Set<String> = []
    var stored = 0

    init(configuration: AuditConfiguration, store: AuditStore, loop: PollLoop, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        cursors = try store.cursors()
        var options = ZMQSocketOptions.agent(jitter: 500)
        options.immediate = false
        options.reconnectIntervalMax = 5_000
        options.receiveHighWaterMark = 200_000
        subscriber = try SocketFactory.client(.sub, context: loop.context, endpoint: configuration.broker.bus,
                                              keyPair: configuration.keyPair, serverKey: configuration.brokerKey, options: options)
        try subscriber.subscribe(Topic.eventPrefix)
        try subscriber.subscribe(Topic.beaconPrefix)
        link = try WorkerLink(service: "audit", loop: loop, endpoint: configuration.broker.router,
                              keyPair: configuration.keyPair, serverKey: configuration.brokerKey, logger: logger, now: configuration.now)
        link.onRequest { [unowned self] request, _ in self.answer(request) }
        loop.register(subscriber) { [unowned self] in self.drain() }
        for publisher in cursors.keys { requestReplay(publisher) }
        loop.every(.seconds(3600)) { [unowned self] in self.applyRetention() }
        applyRetention()
        logger.info("Audit writer started.", metadata: ["publishers": "\(cursors.count)"])
    }

    func shutdown() {
        logger.info("Audit writer stopping.", metadata: ["stored": "\(stored)"])
        subscriber.close()
        link.close()
    }

    private func drain() {
        var budget = 5_000
        var events: [AuditEvent] = []
        var beacons: [Beacon] = []
        while budget > 0, let message = try? subscriber.receive(maxFrames: 4, maxBytes: WireCodec.maxBodyBytes + 8_192) {
            budget -= 1
            guard !message.oversized, let decoded = try? WireCodec.decode(message.frames, hasTopic: true) else { continue }
            switch decoded.header.type {
            case .event:
                if let event = try? decoded.decode(AuditEvent.self), event.publisher == decoded.header.sender {
                    events.append(event)
                }
            case .beacon:
                if let beacon = try? decoded.decode(Beacon.self), beacon.publisher == decoded.header.sender { beacons.append(beacon) }
            default:
                continue
            }
        }
        if !events.isEmpty { store(events) }
        for beacon in beacons where beacon.lastSeq > cursors[beacon.publisher, default: 0] {
            requestReplay(beacon.publisher)
        }
    }

    private func applyRetention() {
        guard configuration.retentionDays > 0 else { return }
        let cutoff = configuration.now().addingTimeInterval(-Double(configuration.retentionDays) * 86_400)
        if let removed = try? store.prune(olderThan: cutoff), removed > 0 {
            logger.info("Applied retention.", metadata: ["retention.days": "\(configuration.retentionDays)", "removed": "\(removed)"])
        }
    }

    private func store(_ incoming: [AuditEvent]) {
        // Anything at or below a publisher's cursor is already stored (and may since have been pruned).
        let events = incoming.filter { $0.seq > cursors[$0.publisher, default: 0] }
        guard !events.isEmpty else { return }
        do {
            let updated = try store.insert(events)
            stored += events.count
            for (publisher, cursor) in updated {
                let previous = cursors[publisher, default: 0]
                cursors[publisher] = cursor
                let highest = events.filter { $0.publisher == publisher }.map(\.seq).max() ?? 0
                if highest > cursor {
                    // A gap: something between cursor and highest never arrived on the bus.
                    requestReplay(publisher)
                } else if cursor > previous {
                    acknowledge(publisher)
                }
            }
        } catch {
            logger.error("Could not store events.", metadata: ["error": "\(error)", "events": "\(events.count)"])
        }
    }

    /// Asks `publisher` (through the broker) for everything after our cursor.
    private func requestReplay(_ publisher: String) {
        guard publisher == "broker" || publisher == "aggregator", !replaying.contains(publisher) else { return }
        replaying.insert(publisher)
        let after = cursors[publisher, default: 0]
        link.request(service: publisher, op: "journal.replay", params: .object(["after": .number(Double(after))]),
                     as: [AuditEvent].self) { [unowned self] reply in
            self.replaying.remove(publisher)
            guard case .success(let events) = reply else {
                if case .failure(let error) = reply {
                    self.logger.notice("Replay failed.", metadata: ["publisher": "\(publisher)", "error": "\(error.message)"])
                }
                return
            }
            let valid = events.filter { $0.publisher == publisher }
            if !valid.isEmpty {
                self.logger.info("Replayed events.", metadata: ["publisher": "\(publisher)", "after": "\(after)", "events": "\(valid.count)"])
                self.store(valid)
            }
            // Pages are bounded by count and by size: keep asking until a page comes back empty.
            if !valid.isEmpty { self.requestReplay(publisher) }
        }
    }

    private func acknowledge(_ publisher: String) {
        guard let cursor = cursors[publisher] else { return }
        link.request(service: publisher, op: "journal.ack", params: .object(["upTo": .number(Double(cursor))]), as: JSONValue.self) { _ in }
    }

    private func answer(_ request: Request) -> Result<any Encodable, ErrorBody> {
        switch request.op {
        case "audit.query":
            do {
                var filter = try WireCodec.fromJSON(AuditFilter.self, WireCodec.json(request.params))
                let wanted = max(1, min(filter.limit ?? 100, 2_000))
                filter.limit = wanted
                var records = try store.query(filter)
                var complete = records.count < wanted
                // Keep the reply under the wire's body limit; the caller pages for the rest.
                while records.count > 1 && WireCodec.json(AuditPage(records: records, complete: complete)).count > Self.maxReplyBytes {
                    records.removeLast(records.count / 2)
                    complete = false
                }
                return .success(AuditPage(records: records, complete: complete))
            } catch let error as DecodingError {
                return .failure(ErrorBody(code: "bad_filter", message: "audit filter: \(error)"))
            } catch {
                return .failure(ErrorBody(code: "internal", message: "\(error)"))
            }
        case "audit.backup":
            guard request.caller?.hasPrefix("operator:") == true else {
                return .failure(ErrorBody(code: "forbidden", message: "only operators may take backups"))
            }
            guard let path = request.params["path"]?.stringValue, path.hasPrefix("/") else {
                return .failure(ErrorBody(code: "bad_request", message: "audit.backup needs an absolute path on the audit writer's host"))
            }
            do {
                let bytes = try store.backup(to: path)
                logger.info("Backed up the audit store.", metadata: ["backup.path": "\(path)", "backup.bytes": "\(bytes)"])
                return .success(JSONValue.object(["path": .string(path), "bytes": .number(Double(bytes))]))
            } catch let error as StoreError {
                return .failure(ErrorBody(code: error.code.rawValue, message: error.message))
            } catch {
                return .failure(ErrorBody(code: "backup_failed", message: "\(error)"))
            }
        default:
            return .failure(ErrorBody(code: "unknown_op", message: "the audit writer has no operation \(request.op)"))
        }
    }
}

/// Builds the audit writer service.
package enum Audit {
    package static func makeService(configuration: AuditConfiguration, logger: Logger) throws -> LoopService<some LoopCore> {
        let store = try AuditStore(url: configuration.home.database("audit"))
        let thread = LoopThread(name: "capsule-audit", context: ZMQContext()) { loop in
            try AuditCore(configuration: configuration, store: store, loop: loop, logger: logger)
        }
        return LoopService(thread: thread)
    }
}
