import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

/// The aggregator's sockets and board, on one loop thread. Reports are folded synchronously here by
/// ``StatusBoard``; this class only moves messages, persists and publishes.
final class AggregatorCore: LoopCore {
    let configuration: AggregatorConfiguration
    let store: AggregatorStore
    let logger: Logger
    let subscriber: ZMQSocket
    let publisher: ZMQSocket
    var link: WorkerLink!
    var board: StatusBoard
    var factory: MessageFactory
    let journal: EventJournal
    let batch: WriteBatch
    var lastReportRequest: [String: Date] = [:]
    var received = 0
    var dropped = 0
    let metrics = AggregatorMetrics()
    private var beaconsSinceDepth = 0
    let startedAt: Date
    /// Transitions folded but not yet committed (with the state they belong to).
    private var pendingTransitions: [Transition] = []
    private var lastPersist: Date
    /// Deleted agents and services, to delete from the store at the next save.
    private var forgottenAgents: Set<String> = []
    private var forgottenServices: Set<String> = []
    /// The broker's settings version applied so far.
    private var settingsVersion = 0
    private var graceUntil: Date
    /// When anything last came in on the bus. The broker's own beacon, every second, keeps it
    /// current while the broker is up, whatever the fleet does.
    private var feedHeardAt: Date
    /// Set while the bus is silent beyond ``feedTimeout``: the aggregator cannot hear any agent, so
    /// time alone turns nothing STALE or OFFLINE until it hears the bus again.
    private var feedLostAt: Date?
    static let feedTimeout: TimeInterval = 3
    /// The broker's start, from its beacon: a new value means it restarted (or another took over).
    private var brokerStartedAt: Date?
    private var errorLog = ThrottledLog()

    init(configuration: AggregatorConfiguration, store: AggregatorStore, loop: PollLoop, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.factory = MessageFactory(sender: AggregatorStore.publisher, now: configuration.now)
        let loaded = try store.load()
        board = StatusBoard(thresholds: configuration.thresholds, agents: loaded.agents, services: loaded.services)
        journal = try EventJournal(publisher: AggregatorStore.publisher, store: store.database)
        batch = WriteBatch(store: store.database, journal: journal)
        startedAt = configuration.now()
        lastPersist = startedAt
        // Heartbeat times are saved lazily, so right after a start they may be a little old: wait one
        // save interval and one heartbeat before time alone may turn anything STALE or OFFLINE.
        feedHeardAt = startedAt
        graceUntil =
            loaded.agents.isEmpty
            ? startedAt
            : startedAt.addingTimeInterval(configuration.persistSeconds + configuration.thresholds.heartbeatSeconds)

        let options = ZMQSocketOptions.internalLink()
        subscriber = try SocketFactory.client(
            .sub,
            context: loop.context,
            endpoint: configuration.broker.bus,
            keyPair: configuration.keyPair,
            serverKey: configuration.brokerKey,
            options: options
        )
        // A broker pair: only the active broker binds its bus and ingest, so connecting to both reaches it.
        for other in configuration.broker.candidates.dropFirst() { try subscriber.connect(other.bus) }
        for prefix in [
            Topic.heartbeatPrefix, Topic.healthPrefix, Topic.reportPrefix, "evt.agent.", "evt.service.forgotten",
            "evt.settings.changed", Topic.beacon("broker"),
        ] {
            try subscriber.subscribe(prefix)
        }
        publisher = try SocketFactory.client(
            .pub,
            context: loop.context,
            endpoint: configuration.broker.ingest,
            keyPair: configuration.keyPair,
            serverKey: configuration.brokerKey,
            options: options
        )
        for other in configuration.broker.candidates.dropFirst() { try publisher.connect(other.ingest) }
        link = try WorkerLink(
            service: "aggregator",
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
                service: "aggregator",
                version: CapsuleVersion.current,
                startedAt: startedAt,
                journalLastSeq: journal.lastSeq,
                journalIncarnation: journal.incarnation,
                schemaVersion: AggregatorStore.schemaVersion
            )
        }
        registerOperations()

        loop.register(subscriber) { [unowned self] in self.drain() }
        loop.every(.milliseconds(configuration.sweepMilliseconds)) { [unowned self] in self.sweep() }
        loop.every(.seconds(1)) { [unowned self] in self.beacon() }
        loop.every(.seconds(60)) { [unowned self] in self.reconcile() }
        loop.atEndOfTurn { [unowned self] in self.endTurn() }
        reconcile(all: true)
        logger.info(
            "Aggregator started.",
            metadata: [
                "agents": "\(board.agents.count)", "services": "\(board.services.count)",
                "zmq.bus": "\(configuration.broker.bus)",
                "journal.incarnation": "\(journal.incarnation)", "journal.seq": "\(journal.lastSeq)",
            ]
        )
    }

    func shutdown() {
        persist(force: true)
        batch.commit()
        logger.info("Aggregator stopping.", metadata: ["received": "\(received)", "dropped": "\(dropped)"])
        subscriber.close()
        publisher.close()
        link.close()
    }

    var now: Date { configuration.now() }

    private func drain() {
        let before = received
        defer { if received > before { feedHeard() } }
        subscriber.drain(budget: 2_000, maxBytes: WireCodec.maxBodyBytes + 8_192) { message in
            received += 1
            metrics.receivedOne()
            guard !message.oversized, let decoded = try? WireCodec.decode(message.frames, hasTopic: true) else {
                dropped += 1
                metrics.dropped("malformed")
                return
            }
            fold(decoded)
        }
    }

    private func fold(_ decoded: WireMessage) {
        // The broker has checked the header's sender against the key; the body must name the same agent.
        let sender = decoded.header.sender
        do {
            switch decoded.header.type {
            case .heartbeat:
                let heartbeat = try decoded.heartbeat()
                guard heartbeat.agentId == sender else { return identityMismatch() }
                metrics.heartbeat()
                pendingTransitions += board.apply(heartbeat, now: now)
                requestReportIfNeeded(heartbeat.agentId)
            case .health:
                let update = try decoded.decode(HealthUpdate.self)
                guard update.agentId == sender else { return identityMismatch() }
                pendingTransitions += board.apply(update, now: now)
            case .serviceReport:
                let report = try decoded.decode(ServiceReport.self)
                guard report.agentId == sender else { return identityMismatch() }
                pendingTransitions += board.apply(report, now: now)
            case .event:
                guard sender == "broker" else { return }
                applyBrokerEvent(try decoded.decode(AuditEvent.self))
            case .beacon:
                guard sender == "broker", let started = try decoded.decode(Beacon.self).startedAt else { return }
                if let known = brokerStartedAt, known != started { brokerRestarted() }
                brokerStartedAt = started
            default:
                break
            }
        } catch {
            dropped += 1
            metrics.dropped("undecodable")
            logger.debug(
                "Dropped an undecodable report.",
                metadata: ["error": "\(error)", "peer": "\(SafeText.clean(sender, limit: 64))"]
            )
        }
    }

    private func identityMismatch() {
        dropped += 1
        metrics.dropped("identity_mismatch")
    }

    /// Broker events that change an agent's administrative state, forget something, or change settings.
    private func applyBrokerEvent(_ event: AuditEvent) {
        let subject = event.subject
        switch event.action {
        case "agent.registered", "agent.reenrolled":
            guard subject.hasPrefix("agent:"), let code = event.details?["agentCode"]?.stringValue else { return }
            board.setEnrolledCode(code, agentId: String(subject.dropFirst("agent:".count)))
        case "agent.disabled", "agent.revoked", "agent.enabled":
            guard subject.hasPrefix("agent:") else { return }
            let agentId = String(subject.dropFirst("agent:".count))
            let status: AgentStatus? =
                event.action == "agent.disabled" ? .disabled : event.action == "agent.revoked" ? .revoked : nil
            pendingTransitions += board.setAdminStatus(status, agentId: agentId, now: now)
        case "agent.forgotten":
            let agentId = String(subject.dropFirst("agent:".count))
            for code in board.agents[agentId]?.services ?? [] { forgottenServices.insert(code) }
            board.forget(agent: agentId)
            forgottenAgents.insert(agentId)
        case "service.forgotten":
            let code = String(subject.dropFirst("service:".count))
            board.forget(service: code)
            forgottenServices.insert(code)
        case "settings.changed":
            loadSettings()
        default:
            break
        }
    }

    /// Pulls the agents' enrolled codes and states from the broker (paged), in case an event was
    /// published while this aggregator was down; and the settings. At start every agent is read; on
    /// the periodic pass only the disabled and revoked ones (few).
    private func reconcile(cursor: String? = nil, found: [String: KeyState] = [:], all: Bool = false) {
        if cursor == nil { loadSettings() }
        let states: [KeyState]? = all ? nil : [.disabled, .revoked]
        link.request(BrokerOps.AgentList.self, .init(states: states, limit: 500, cursor: cursor)) {
            [unowned self] reply in
            guard case .success(let page) = reply else { return }
            var found = found
            for agent in page.items {
                if agent.state != .active { found[agent.id] = agent.state }
                board.setEnrolledCode(agent.code, agentId: agent.id)
            }
            if let next = page.next { return reconcile(cursor: next, found: found, all: all) }
            for (agentId, agent) in board.agents {
                let wanted: AgentStatus? =
                    found[agentId] == .disabled ? .disabled : found[agentId] == .revoked ? .revoked : nil
                if agent.adminStatus != wanted {
                    pendingTransitions += board.setAdminStatus(wanted, agentId: agentId, now: now)
                }
            }
        }
    }

    private func loadSettings() {
        link.request(BrokerOps.SettingsGet.self, NoParams()) { [unowned self] reply in
            guard case .success(let settings) = reply, settings.version != settingsVersion else { return }
            settingsVersion = settings.version
            let thresholds = StatusThresholds(
                heartbeatSeconds: settings.heartbeatSeconds,
                staleSeconds: settings.staleSeconds,
                offlineSeconds: settings.offlineSeconds
            )
            if thresholds != board.thresholds {
                logger.info(
                    "Applied the broker's settings.",
                    metadata: [
                        "settings.version": "\(settings.version)", "stale.seconds": "\(settings.staleSeconds)",
                        "offline.seconds": "\(settings.offlineSeconds)",
                    ]
                )
                board.thresholds = thresholds
            }
        }
    }

    private func requestReportIfNeeded(_ agentId: String) {
        guard board.needsReport(agentId: agentId) else { return }
        let current = now
        if let last = lastReportRequest[agentId], current.timeIntervalSince(last) < 5 { return }
        lastReportRequest[agentId] = current
        if lastReportRequest.count > 100_000 {
            lastReportRequest = lastReportRequest.filter { current.timeIntervalSince($0.value) < 5 }
        }
        link.send(.reportRequest, body: ReportRequest(agentId: agentId, reason: "manifest digest unknown"))
    }

    private func sweep() {
        let current = now
        if feedLostAt == nil, current.timeIntervalSince(feedHeardAt) > Self.feedTimeout {
            feedLostAt = feedHeardAt
            metrics.feedLost(true)
            logger.warning(
                "Nothing on the broker's bus for \(Int(Self.feedTimeout)) s: no agent's silence counts until it is heard again.",
                metadata: ["bus": "\(configuration.broker.bus)"]
            )
        }
        guard feedLostAt == nil, current >= graceUntil else { return }
        pendingTransitions += board.sweep(now: current)
    }

    /// A new broker process: every agent has to reconnect to it, so silence counts from now on.
    private func brokerRestarted() {
        board.feedReturned(at: now)
        logger.notice("The broker restarted; agents' silence counts from now, while they reconnect.")
    }

    /// Something came in on the bus. After an outage, agents' silence counts from now on.
    private func feedHeard() {
        let current = now
        feedHeardAt = current
        guard let lost = feedLostAt else { return }
        feedLostAt = nil
        metrics.feedLost(false)
        board.feedReturned(at: current)
        logger.notice(
            "Hearing the broker's bus again; silence during the outage counts against no agent.",
            metadata: ["outage.seconds": "\(Int(current.timeIntervalSince(lost)))"]
        )
    }

    private func endTurn() {
        persist(force: false)
    }

    /// Writes dirty state with the pending transitions in one transaction, then publishes the
    /// journalled events. Transitions are written at once; state that only aged (heartbeat times,
    /// health) at most every `persistSeconds`.
    private func persist(force: Bool) {
        let current = now
        guard
            force || !pendingTransitions.isEmpty
                || current.timeIntervalSince(lastPersist) >= configuration.persistSeconds
        else { return }
        var agents: [String: AgentState?] = [:]
        var services: [String: ServiceState?] = [:]
        // `.some(nil)`: a dirty entry the board no longer holds is deleted from the store.
        for agentId in board.dirtyAgents { agents[agentId] = .some(board.agents[agentId]) }
        for code in board.dirtyServices { services[code] = .some(board.services[code]) }
        for agentId in forgottenAgents { agents[agentId] = .some(nil) }
        for code in forgottenServices { services[code] = .some(nil) }
        // State whose only change is a time: two numbers a row, not its whole state.
        let times = AggregatorStore.Times(
            aged: board,
            agentsSavedWhole: agents.keys,
            servicesSavedWhole: services.keys
        )
        let manifests = board.dirtyManifests
        let transitions = pendingTransitions
        guard !agents.isEmpty || !services.isEmpty || !transitions.isEmpty || !times.isEmpty else { return }
        pendingTransitions = []
        forgottenAgents = []
        forgottenServices = []
        board.clearDirty()
        lastPersist = current
        let journal = self.journal
        batch.add(
            { (db: any SQLConnection) -> [AuditEvent] in
                try AggregatorStore.save(db, agents: agents, services: services, manifestChanged: manifests)
                try AggregatorStore.save(db, times: times)
                return try transitions.map { transition in
                    try journal.append(
                        db,
                        AuditEvent(
                            publisher: AggregatorStore.publisher,
                            seq: 0,
                            at: transition.at,
                            action: "\(transition.kind.rawValue).transition",
                            subject: transition.subject,
                            actor: "system",
                            from: transition.from,
                            to: transition.to,
                            reason: transition.reason
                        )
                    )
                }
            },
            done: { [unowned self] outcome in
                switch outcome {
                case .success(let events):
                    for transition in transitions { metrics.transition(transition.kind.rawValue) }
                    for event in events {
                        logger.info(
                            "Status changed.",
                            metadata: [
                                "subject": "\(event.subject)", "from": "\(event.from ?? "-")",
                                "to": "\(event.to ?? "-")",
                                "reason": "\(event.reason ?? "")",
                            ]
                        )
                        publish(event)
                    }
                case .failure(let error):
                    // Nothing was written: keep it all for the next attempt, transitions in order.
                    pendingTransitions = transitions + pendingTransitions
                    board.markDirty(
                        agents: Array(agents.keys) + times.agents.map(\.agentId),
                        services: Array(services.keys) + times.services.map(\.code),
                        manifests: manifests
                    )
                    errorLog.log(
                        "persist",
                        level: .error,
                        "Could not persist state.",
                        metadata: ["error": "\(error)"],
                        logger: logger,
                        now: now.timeIntervalSince1970
                    )
                }
            }
        )
        batch.commit()
    }

    private func publish(_ event: AuditEvent) {
        _ = try? publisher.send(factory.event(event))
    }

    private func beacon() {
        _ = try? publisher.send(factory.beacon(journal.beacon))
        metrics.record(board.summary)
        beaconsSinceDepth += 1
        if beaconsSinceDepth >= 5 {
            beaconsSinceDepth = 0
            metrics.measureJournal(journal, store: store.database)
        }
    }
}
