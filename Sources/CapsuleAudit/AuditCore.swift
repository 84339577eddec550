import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

/// The audit writer's shell: it moves events, beacons and replay pages between the bus, the router
/// and the store, as ``JournalFollower`` decides, and answers audit queries.
final class AuditCore: LoopCore {
    static let maxReplyBytes = 192 * 1024
    let configuration: AuditConfiguration
    let store: AuditStore
    let logger: Logger
    let subscriber: ZMQSocket
    var link: WorkerLink!
    var follower: JournalFollower
    var stored = 0
    let metrics = AuditMetrics(publishers: JournalFollower.publishers)
    var retentionDays: Int
    var settingsVersion = 0
    let startedAt: Date
    private var errorLog = ThrottledLog()
    /// Stores batches on a thread of its own, so the next replay page is read while one commits.
    private var storeWorker: LoopWorker!
    /// Replay requests held while ``maxStoresInFlight`` batches wait for the store (the backlog a
    /// replay can pile up here stays bounded).
    private var heldReplays: [JournalFollower.Action] = []
    static let maxStoresInFlight = 3
    /// Events waiting while the store thread writes the previous batch: they go in the next one, so
    /// a steady trickle of events costs one transaction per write, not one per wake-up.
    private var queued: [AuditEvent] = []
    /// A queue this long is handed over at once (so a replay's pages still count toward
    /// ``maxStoresInFlight`` and what waits here stays bounded).
    static let maxQueuedEvents = 4_096
    private var stopping = false
    /// `audit.query` requests held until a matching record is stored (`waitSeconds`).
    private var waiting: [(filter: AuditFilter, deadline: Date, respond: WorkerLink.Responder<AuditPage>)] = []

    init(configuration: AuditConfiguration, store: AuditStore, loop: PollLoop, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        retentionDays = configuration.retentionDays
        startedAt = configuration.now()
        follower = JournalFollower(cursors: try store.cursors(), current: try store.currentIncarnations())
        subscriber = try SocketFactory.client(
            .sub,
            context: loop.context,
            endpoint: configuration.broker.bus,
            keyPair: configuration.keyPair,
            serverKey: configuration.brokerKey,
            options: .internalLink()
        )
        for other in configuration.broker.candidates.dropFirst() { try subscriber.connect(other.bus) }
        try subscriber.subscribe(Topic.eventPrefix)
        try subscriber.subscribe(Topic.beaconPrefix)
        link = try WorkerLink(
            service: "audit",
            loop: loop,
            endpoint: configuration.broker.router,
            keyPair: configuration.keyPair,
            serverKey: configuration.brokerKey,
            routers: configuration.broker.candidates.map(\.router),
            logger: logger,
            now: configuration.now
        ) {
            [unowned self] in
            WorkerReady(
                service: "audit",
                version: CapsuleVersion.current,
                startedAt: startedAt,
                schemaVersion: AuditStore.schemaVersion
            )
        }
        registerOperations()
        storeWorker = LoopWorker(name: "capsule-audit-st", loop: loop)
        loop.register(subscriber) { [unowned self] in self.drain() }
        loop.every(.milliseconds(250)) { [unowned self] in self.tick() }
        loop.every(.seconds(3600)) { [unowned self] in self.applyRetention() }
        perform(follower.start())
        loadSettings()
        logger.info("Audit writer started.", metadata: ["journals": "\(follower.cursors.count)"])
    }

    func shutdown() {
        submitQueued()
        stopping = true
        storeWorker.finish()
        logger.info("Audit writer stopping.", metadata: ["stored": "\(stored)"])
        subscriber.close()
        link.close()
    }

    var now: Date { configuration.now() }

    private func drain() {
        var events: [AuditEvent] = []
        var beacons: [Beacon] = []
        subscriber.drain(budget: 5_000, maxBytes: WireCodec.maxBodyBytes + 8_192) { message in
            guard !message.oversized, let decoded = try? WireCodec.decode(message.frames, hasTopic: true) else {
                return
            }
            switch decoded.header.type {
            case .event:
                // The broker checked the header's sender against the key; the body must agree with it.
                if let event = AuditEvent.read(decoded.body) ?? (try? decoded.decode(AuditEvent.self)),
                    event.publisher == decoded.header.sender
                {
                    events.append(event)
                    if event.action == "settings.changed" { loadSettings() }
                }
            case .beacon:
                if let beacon = try? decoded.decode(Beacon.self), beacon.publisher == decoded.header.sender {
                    beacons.append(beacon)
                }
            default:
                break
            }
        }
        if !events.isEmpty { perform(follower.received(events)) }
        for beacon in beacons {
            perform(follower.beacon(beacon, now: now))
            let cursor =
                follower.cursors[JournalKey(publisher: beacon.publisher, incarnation: beacon.incarnation ?? "")] ?? 0
            metrics.lag(beacon.publisher, events: Int(beacon.lastSeq) - Int(cursor))
        }
    }

    private func tick() {
        perform(follower.tick(now: now))
        let current = now
        let due = waiting.filter { $0.deadline <= current }
        waiting.removeAll { $0.deadline <= current }
        for entry in due { entry.respond.succeed(AuditPage(records: [], complete: true)) }
        metrics.waiting(waiting.count)
    }

    // MARK: Carrying out the follower's actions

    private func perform(_ actions: [JournalFollower.Action]) {
        for action in actions {
            switch action {
            case .store(let events):
                storeEvents(events)
            case .replay where storeWorker.pending >= Self.maxStoresInFlight:
                heldReplays.append(action)
            case .replay(let publisher, let after, let incarnation):
                let params = JournalReplayParams(after: after, incarnation: incarnation)
                let handle: (Result<JournalPage, ErrorBody>) -> Void = { [unowned self] reply in
                    switch reply {
                    case .success(let page):
                        if !page.events.isEmpty {
                            logger.info(
                                "Replayed events.",
                                metadata: [
                                    "publisher": "\(publisher)", "after": "\(after)", "events": "\(page.events.count)",
                                ]
                            )
                        }
                        perform(follower.replayed(publisher, page: page))
                    case .failure(let error):
                        follower.replayFailed(publisher)
                        errorLog.log(
                            "replay|\(publisher)",
                            level: .notice,
                            "Replay failed.",
                            metadata: ["publisher": "\(publisher)", "error": "\(error.message)"],
                            logger: logger,
                            now: now.timeIntervalSince1970
                        )
                    }
                }
                if publisher == "broker" {
                    link.request(BrokerOps.JournalReplay.self, params, timeout: 3, onReply: handle)
                } else {
                    link.request(AggregatorOps.JournalReplay.self, params, timeout: 3, onReply: handle)
                }
            case .skip(let key, let from, let through):
                do {
                    let cursor = try store.skip(key, from: from, through: through, now: now)
                    logger.warning(
                        "Passed over events pruned from a journal before this store held them.",
                        metadata: ["publisher": "\(key.publisher)", "from": "\(from)", "through": "\(through)"]
                    )
                    perform(follower.stored(updated: [key: cursor], highest: [:]))
                } catch {
                    errorLog.log(
                        "skip",
                        level: .error,
                        "Could not record a journal hole.",
                        metadata: ["error": "\(error)"],
                        logger: logger,
                        now: now.timeIntervalSince1970
                    )
                }
            case .acknowledge(let publisher, let upTo, let incarnation):
                let params = JournalAckParams(upTo: upTo, incarnation: incarnation)
                if publisher == "broker" {
                    link.request(BrokerOps.JournalAck.self, params) { _ in }
                } else {
                    link.request(AggregatorOps.JournalAck.self, params) { _ in }
                }
            }
        }
    }

    /// Queues events for the store thread; they are handed over at once when it is idle, else with
    /// the next batch (group commit). What it stored moves the follower on when it is done.
    private func storeEvents(_ events: [AuditEvent]) {
        queued += events
        if storeWorker.pending == 0 || queued.count >= Self.maxQueuedEvents { submitQueued() }
    }

    private func submitQueued() {
        guard !queued.isEmpty, !stopping else { return }
        let events = queued
        queued.removeAll(keepingCapacity: true)
        // The rows are built here, on the loop thread, which has time to spare during a replay;
        // the store thread, which bounds it, only writes them.
        let rows = AuditStore.Rows(events)
        let store = store
        let metrics = metrics
        let at = now
        storeWorker.submit(
            { Result { try metrics.timeWrite { try store.insert(rows, now: at) } } },
            completion: { [unowned self] (result: Result<[JournalKey: UInt64], any Error>) in
                stored(events, highest: rows.highest, result: result)
            }
        )
    }

    /// The store thread finished a batch: move the follower on, or say why nothing was stored.
    private func stored(
        _ events: [AuditEvent],
        highest: [JournalKey: UInt64],
        result: Result<[JournalKey: UInt64], any Error>
    ) {
        switch result {
        case .success(let updated):
            stored += events.count
            for (publisher, count) in Dictionary(grouping: events, by: \.publisher).mapValues(\.count) {
                metrics.stored(publisher, count: count)
            }
            perform(follower.stored(updated: updated, highest: highest))
            answerWaiting()
        case .failure(let error):
            // Nothing was stored; the next beacon shows the gap and asks for a replay.
            errorLog.log(
                "insert",
                level: .error,
                "Could not store events.",
                metadata: ["error": "\(error)", "events": "\(events.count)"],
                logger: logger,
                now: now.timeIntervalSince1970
            )
        }
        if storeWorker.pending == 0 { submitQueued() }
        if storeWorker.pending < Self.maxStoresInFlight, !heldReplays.isEmpty {
            let held = heldReplays
            heldReplays.removeAll()
            perform(held)
        }
    }

    private func applyRetention() {
        guard retentionDays > 0 else { return }
        let current = now
        let cutoff = current.addingTimeInterval(-Double(retentionDays) * 86_400)
        do {
            let removed = try store.prune(olderThan: cutoff, retentionDays: retentionDays, now: current)
            if removed > 0 {
                logger.info(
                    "Applied retention.",
                    metadata: ["retention.days": "\(retentionDays)", "removed": "\(removed)"]
                )
            }
        } catch {
            errorLog.log(
                "retention",
                level: .error,
                "Could not apply retention.",
                metadata: ["error": "\(error)"],
                logger: logger,
                now: current.timeIntervalSince1970
            )
        }
    }

    private func loadSettings() {
        link.request(BrokerOps.SettingsGet.self, NoParams()) { [unowned self] reply in
            guard case .success(let settings) = reply, settings.version != settingsVersion else { return }
            settingsVersion = settings.version
            if settings.retentionDays != retentionDays {
                logger.info("Applied the broker's settings.", metadata: ["retention.days": "\(settings.retentionDays)"])
                retentionDays = settings.retentionDays
                applyRetention()
            }
        }
    }

    // MARK: Queries

    private func registerOperations() {
        link.on(AuditOps.Query.self) { [unowned self] filter, respond in
            let page = try page(filter)
            if page.records.isEmpty, let wait = filter.waitSeconds, wait > 0, filter.afterId != nil {
                waiting.append((filter, now.addingTimeInterval(min(wait, AuditFilter.maxWaitSeconds)), respond))
                if waiting.count > 1_000 {
                    waiting.removeFirst().respond.succeed(AuditPage(records: [], complete: true))
                }
                return
            }
            respond.succeed(page)
        }
        link.on(AuditOps.Backup.self) { [unowned self] params, respond in
            respond.succeed(try backup(params.name, caller: respond.caller ?? "?"))
        }
    }

    private func answerWaiting() {
        guard !waiting.isEmpty else { return }
        var still: [(filter: AuditFilter, deadline: Date, respond: WorkerLink.Responder<AuditPage>)] = []
        for entry in waiting {
            if let page = try? page(entry.filter), !page.records.isEmpty {
                entry.respond.succeed(page)
            } else {
                still.append(entry)
            }
        }
        waiting = still
    }

    private func page(_ filter: AuditFilter) throws -> AuditPage {
        var filter = filter
        let wanted = max(1, min(filter.limit ?? 100, 2_000))
        filter.limit = wanted
        var records = try store.query(filter)
        var complete = records.count < wanted
        // Keep the reply under the wire's body limit; the caller pages for the rest.
        while records.count > 1
            && WireCodec.json(AuditPage(records: records, complete: complete)).count > Self.maxReplyBytes
        {
            records.removeLast(records.count / 2)
            complete = false
        }
        return AuditPage(records: records, complete: complete)
    }

    /// Writes a backup into the backup folder only: a plain file name, a new file created 0600
    /// without following any symbolic link, and an audit record of who took it.
    private func backup(_ name: String, caller: String) throws -> AuditOps.Backup.Result {
        guard BackupName.isValid(name) else {
            throw ErrorBody(
                .badRequest,
                "backup name \(SafeText.quoted(name, limit: 80)) must be a plain file name: 1-128 of A-Z, a-z, 0-9, '.', '_', '-', not starting with '.' (it is written inside the audit writer's backup folder)"
            )
        }
        let directory = configuration.backupDirectory
        try BackupName.prepare(directory)
        let path = directory.appendingPathComponent(name).path
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw ErrorBody(.conflict, "backup \(name) already exists in \(directory.path); choose a new name")
            }
            throw ErrorBody(.backupFailed, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        close(fd)
        do {
            let bytes = try store.backup(into: path)
            let at = now
            _ = try store.database.write { db in
                try AuditStore.appendOwn(
                    db,
                    AuditEvent(
                        publisher: AuditStore.ownPublisher,
                        seq: 0,
                        at: at,
                        action: "audit.backup_taken",
                        subject: "audit",
                        actor: caller,
                        reason: "backup \(name) (\(bytes) bytes)",
                        details: .object(["path": .string(path), "bytes": .number(Double(bytes))])
                    ),
                    now: at
                )
            }
            logger.info("Backed up the audit store.", metadata: ["backup.path": "\(path)", "backup.bytes": "\(bytes)"])
            return AuditOps.Backup.Result(path: path, bytes: bytes)
        } catch {
            unlink(path)
            throw ErrorBody(.backupFailed, "backup failed: \(error)")
        }
    }
}
