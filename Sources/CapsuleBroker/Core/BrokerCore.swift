import CZeroMQ
import CapsuleCrypto
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

/// The broker's state and sockets: a thin shell on one ``LoopThread``. Every handler runs there,
/// synchronously. Decisions are made by value types (``IngestGate``, ``RouterGate``,
/// ``CommandBook``, ``ZAPHandler``, ``RefusalLedger``); this class carries out what they decide.
///
/// Writes of one loop turn go into one ``WriteBatch``, committed at the end of the turn (group
/// commit); replies, dispatches and events that depend on them are sent after the commit.
final class BrokerCore: LoopCore {
    let configuration: BrokerConfiguration
    let store: BrokerStore
    var logger: Logger
    let keyPair: CurveKeyPair
    /// Seals raw command payloads and one-time result fields at rest (`keys/payload.key`).
    let payloadBox: SecretBox

    let ingest: ZMQSocket
    let bus: ZMQSocket
    let router: ZMQSocket
    let zap: ZMQSocket
    /// The router's connection events: a DEALER that disconnects loses its route at once, so a
    /// command for it is reported queued instead of pushed into the void.
    let routerMonitor: ZMQMonitor

    let journal: EventJournal
    let batch: WriteBatch

    /// Enrolled keys by Z85 public key; the allow-list every message is checked against.
    var principals: [String: Principal] = [:]
    /// agentId → agent code, for hellos (one lookup, no store read), and back.
    var agentCodes: [String: String] = [:]
    var agentIds: [String: String] = [:]
    /// Current ROUTER routing id of each connected agent, learned from authenticated messages only.
    var agentRoutes: [String: Data] = [:]
    /// The connection (file descriptor) each agent's route was learned on.
    var agentByConnection: [Int32: String] = [:]
    /// Internal services that announced themselves with `worker.ready`.
    var workers: [String: Worker] = [:]
    /// Requests forwarded to a worker and waiting for its reply.
    var pendingRequests: [String: PendingRequest] = [:]
    /// Service code → owner and manifest, as reported through ingest.
    var services: [String: BrokerStore.ServiceRecord] = [:]
    var commands: CommandBook
    /// One-time result fields of terminal commands, sealed, until read once or expired.
    var oneTimeSecrets: [String: OneTimeSecret] = [:]
    var presence = Presence()
    var settings: Settings
    var drops = DropCounter()
    let metrics = BrokerMetrics()
    /// Loop ticks since the journal's depth was last measured (every 5 s).
    var ticksSinceDepth = 0
    var rateLimiter: RateLimiter
    /// Keys nobody enrolled share one budget, so fresh keys cannot multiply their cost.
    var unknownKeys = RateLimiter(ratePerSecond: 200, burst: 400)
    /// And each unknown key gets little: a hello every few seconds is all an enrolling agent needs.
    var unknownKeyLimiter = RateLimiter(ratePerSecond: 2, burst: 5)
    var refusals = RefusalLedger()
    var errorLog = ThrottledLog()
    var factory: MessageFactory
    var forwarded = 0
    let startedAt: Date
    /// The audit writer's last acknowledgement of this journal (for `cluster.info`).
    var auditAckedUpTo: UInt64?
    /// The request table: op name → typed handler.
    var operations: [String: OperationHandler] = [:]

    struct PendingRequest {
        var client: Data
        var originalId: String
        var deadline: Date
    }

    struct Worker {
        var route: Data
        var ready: WorkerReady
        var lastSeen: Date
    }

    struct OneTimeSecret {
        var sealed: Data
        var expiresAt: Date
        /// Only the operator who ran the command may read it.
        var actor: String
    }

    /// How long one-time result fields are kept for their first read.
    static let oneTimeTTL: TimeInterval = 600

    init(
        configuration: BrokerConfiguration,
        store: BrokerStore,
        keyPair: CurveKeyPair,
        payloadBox: SecretBox,
        loop: PollLoop,
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.payloadBox = payloadBox
        self.store = store
        self.keyPair = keyPair
        self.logger = logger
        self.startedAt = configuration.now()
        self.factory = MessageFactory(sender: "broker", now: configuration.now)
        self.rateLimiter = RateLimiter(
            ratePerSecond: configuration.maxMessagesPerSecond,
            burst: configuration.burstMessages
        )
        journal = try EventJournal(publisher: BrokerStore.publisher, store: store.database)
        batch = WriteBatch(store: store.database, journal: journal)
        settings =
            try store.settings()
            ?? Settings(
                heartbeatSeconds: configuration.thresholds.heartbeatSeconds,
                staleSeconds: configuration.thresholds.staleSeconds,
                offlineSeconds: configuration.thresholds.offlineSeconds,
                commandTTLSeconds: configuration.commandTTLSeconds,
                retentionDays: configuration.retentionDays,
                version: 1
            )
        let payloadBox = payloadBox
        commands = CommandBook(
            live: try store.liveCommands().map { record, sealed in
                // A payload that cannot be opened (payload.key lost) goes out redacted.
                let raw =
                    sealed.flatMap { payloadBox.open($0) }.flatMap { try? WireCodec.fromJSON(JSONValue.self, $0) }
                    ?? record.payload
                return CommandBook.Live(record: record, raw: raw, oneTimeFields: [])
            }
        )
        for secret in try store.oneTimeSecrets() {
            oneTimeSecrets[secret.id] = OneTimeSecret(
                sealed: secret.sealed,
                expiresAt: secret.expiresAt,
                actor: secret.actor
            )
        }
        let context = loop.context

        // ZAP first: a CURVE server with ZAP_ENFORCE_DOMAIN refuses everyone until this answers.
        zap = try ZMQSocket(context: context, type: .rep, lingerMilliseconds: 0)
        try zap.bind("inproc://zeromq.zap.01")

        let serverOptions = ZMQSocketOptions.server(maxMessageBytes: configuration.maxMessageBytes)

        ingest = try ZMQSocket(context: context, type: .xsub)
        try ingest.apply(serverOptions)
        try ingest.setOption(ZMQ_RCVHWM, Int32(10_000))
        try ingest.makeCurveServer(secretKey: keyPair.secretKey, zapDomain: "ingest")
        try ingest.bind(configuration.ingestBind)
        // Subscribe to everything: the broker checks and forwards every report.
        try ingest.send([Data([1])])

        bus = try ZMQSocket(context: context, type: .xpub)
        try bus.apply(serverOptions)
        try bus.setOption(ZMQ_SNDHWM, Int32(100_000))
        try bus.makeCurveServer(secretKey: keyPair.secretKey, zapDomain: "bus")
        try bus.bind(configuration.busBind)

        router = try ZMQSocket(context: context, type: .router)
        routerMonitor = try ZMQMonitor(
            context: context,
            target: router,
            events: ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_ACCEPTED
        )
        var routerOptions = serverOptions
        routerOptions.routerMandatory = true
        try router.apply(routerOptions)
        try router.makeCurveServer(secretKey: keyPair.secretKey, zapDomain: "router")
        // After a standby phase the same endpoint was bound a moment ago; its close is asynchronous.
        try Self.bindRetrying(router, configuration.routerBind)

        learn(try store.principals())
        agentCodes = try store.agentCodes()
        for (id, code) in agentCodes { agentIds[code] = id }
        for service in try store.services() { services[service.code] = service }
        registerOperations()

        loop.register(zap) { [unowned self] in self.drainZAP() }
        loop.register(ingest) { [unowned self] in self.drainIngest() }
        loop.register(bus) { [unowned self] in self.drainBusSubscriptions() }
        // Before the router: a connection's end is seen before anything a new one on the same descriptor sends.
        loop.register(routerMonitor.socket) { [unowned self] in self.drainRouterMonitor() }
        loop.register(router) { [unowned self] in self.drainRouter() }
        loop.every(.milliseconds(250)) { [unowned self] in self.tick() }
        loop.every(.seconds(1)) { [unowned self] in self.publishBeacon() }
        loop.atEndOfTurn { [unowned self] in self.batch.commit() }

        let endpoints = (try ingest.lastEndpoint(), try bus.lastEndpoint(), try router.lastEndpoint())
        logger.info(
            "Broker listening.",
            metadata: [
                "zmq.ingest": "\(endpoints.0)", "zmq.bus": "\(endpoints.1)", "zmq.router": "\(endpoints.2)",
                "principals": "\(principals.count)", "commands.live": "\(commands.liveCount)",
                "journal.incarnation": "\(journal.incarnation)", "journal.seq": "\(journal.lastSeq)",
            ]
        )
    }

    /// Binds, retrying for up to 3 s while the address is still in use.
    static func bindRetrying(_ socket: ZMQSocket, _ endpoint: String) throws {
        var attempt = 0
        while true {
            do {
                try socket.bind(endpoint)
                return
            } catch {
                attempt += 1
                if error.code != EADDRINUSE || attempt > 60 { throw error }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    func shutdown() {
        batch.commit()
        logger.info("Broker stopping.", metadata: ["drops": "\(drops.total)", "forwarded": "\(forwarded)"])
        routerMonitor.socket.close()
        for socket in [ingest, bus, router, zap] { socket.close() }
    }

    var now: Date { configuration.now() }

    var thresholds: StatusThresholds {
        StatusThresholds(
            heartbeatSeconds: settings.heartbeatSeconds,
            staleSeconds: settings.staleSeconds,
            offlineSeconds: settings.offlineSeconds
        )
    }

    /// What the broker knows about one agent, for command decisions.
    func agentView(_ agentId: String) -> AgentView {
        AgentView(
            state: agentStates[agentId] ?? .active,
            routable: agentRoutes[agentId] != nil,
            presence: presence.status(agentId, now: now, thresholds: thresholds)
        )
    }

    /// Each agent's current key state, by agentId (a re-enrolled agent's old key is revoked, its
    /// new one active: the agent is active).
    var agentStates: [String: KeyState] = [:]

    /// Takes principals into the allow-list and the agents' states.
    func learn(_ changed: [Principal]) {
        for principal in changed {
            principals[principal.publicKey] = principal
        }
        // Grouped once: at start `changed` is every principal, and a scan of them per agent is O(N²).
        for (identity, keys) in Dictionary(grouping: changed.filter { $0.kind == .agent }, by: \.identity) {
            agentStates[identity] =
                keys.contains { $0.state == .active }
                ? .active
                : keys.contains { $0.state == .disabled } ? .disabled : .revoked
        }
    }

    // MARK: ZAP

    private func drainZAP() {
        while let message = try? zap.receive(maxFrames: 16, maxBytes: 4096) {
            let frames = message.frames
            guard frames.count >= 6 else {
                _ = try? zap.send([
                    Data("1.0".utf8), frames.count > 1 ? frames[1] : Data(), Data("400".utf8),
                    Data("bad ZAP request".utf8), Data(), Data(),
                ])
                continue
            }
            let domain = String(decoding: frames[2], as: UTF8.self)
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            let key = frames.count > 6 ? CurveKey(bytes: [UInt8](frames[6]))?.z85 : nil
            let principal = key.flatMap { principals[$0] }
            let decision = ZAPHandler.decide(mechanism: mechanism, domain: domain, publicKey: key, principal: principal)
            metrics.zapDecision(domain: domain, status: decision.status)
            if decision.status != "200" {
                let address = String(decoding: frames[3], as: UTF8.self)
                errorLog.log(
                    "zap|\(key ?? address)",
                    level: .notice,
                    "Refused a connection.",
                    metadata: [
                        "zap.domain": "\(domain)", "zap.reason": "\(decision.text)", "peer.key": "\(key ?? "-")",
                        "peer.address": "\(SafeText.clean(address, limit: 64))",
                    ],
                    logger: logger,
                    now: now.timeIntervalSince1970
                )
                refuse(
                    RefusalLedger.Refusal(
                        action: "peer.refused",
                        subject: principal?.auditName ?? "key:\(key ?? "-")",
                        actor: principal?.auditName ?? "key:\(key ?? "-")",
                        reason: "connection to \(domain) refused: \(decision.text)",
                        details: ["domain": .string(domain), "address": .string(SafeText.clean(address, limit: 64))]
                    ),
                    key: key ?? address
                )
            }
            _ = try? zap.send([
                Data("1.0".utf8), frames[1], Data(decision.status.utf8), Data(decision.text.utf8),
                Data(decision.userId.utf8), Data(),
            ])
        }
    }

    private func drainRouterMonitor() {
        while let event = try? routerMonitor.next() {
            switch event.kind {
            case .disconnected, .closed:
                let fd = Int32(bitPattern: event.value)
                if let agentId = agentByConnection.removeValue(forKey: fd), agentRoutes[agentId] != nil {
                    agentRoutes[agentId] = nil
                }
            case .accepted:
                agentByConnection[Int32(bitPattern: event.value)] = nil
            default:
                break
            }
        }
    }

    // MARK: Bus

    private func drainBusSubscriptions() {
        // Subscription frames from internal subscribers; libzmq applies them, we only drain.
        while (try? bus.receive(maxFrames: 2, maxBytes: 4096)) != nil {}
    }

    /// Publishes an event the broker journalled (after its transaction committed).
    func publish(_ event: AuditEvent) {
        _ = try? bus.send(factory.event(event))
    }

    private func publishBeacon() {
        var beacon = journal.beacon
        beacon.startedAt = startedAt
        _ = try? bus.send(factory.beacon(beacon))
    }

    /// Journals `events` in this turn's batch and publishes them once committed.
    func record(_ events: [AuditEvent], then: (() -> Void)? = nil) {
        guard !events.isEmpty else { return }
        let journal = self.journal
        batch.add(
            { db in try events.map { try journal.append(db, $0) } },
            done: { [unowned self] outcome in
                switch outcome {
                case .success(let stamped): stamped.forEach(publish)
                case .failure(let error): storeFailed(error, what: "journal an event")
                }
                then?()
            }
        )
    }

    /// Audits a refusal through the ledger (at once for the first of its kind per key and window).
    func refuse(_ refusal: RefusalLedger.Refusal, key: String) {
        if let event = refusals.refuse(refusal, key: key, now: now) { record([event]) }
    }

    /// Logs a store failure at most once per 10 s, with a count (a full disk must not flood the log).
    func storeFailed(_ error: any Error, what: String) {
        errorLog.log(
            "store|\(what)",
            level: .error,
            "Could not write to the store.",
            metadata: ["store.operation": "\(what)", "error": "\(error)"],
            logger: logger,
            now: now.timeIntervalSince1970
        )
    }

    // MARK: Timers

    private func tick() {
        let current = now
        pendingRequests = pendingRequests.filter { _, pending in
            if pending.deadline > current { return true }
            sendError(
                to: pending.client,
                corr: pending.originalId,
                ErrorBody(.timeout, "no reply from the service in time")
            )
            return false
        }
        perform(commands.expire(now: current, agent: agentView))
        perform(commands.timeOutWaiters(now: current))
        record(refusals.flush(now: current))
        expireOneTimeSecrets(now: current)
        updateGauges(now: current)
    }

    /// Connected peers, principals, live commands; the journal's depth every 5 s (one indexed read).
    private func updateGauges(now current: Date) {
        metrics.peers(
            agents: agentRoutes.count,
            services: workers.values.filter { current.timeIntervalSince($0.lastSeen) < 10 }.count,
            principals: principals.count,
            liveCommands: commands.liveCount
        )
        ticksSinceDepth += 1
        guard ticksSinceDepth >= 20 else { return }
        ticksSinceDepth = 0
        metrics.measureJournal(journal, store: store.database)
    }

    // MARK: Sending on the router

    /// Sends to one peer; returns false when it is gone (ROUTER_MANDATORY reports EHOSTUNREACH).
    @discardableResult
    func sendRouted(to route: Data, header: Header, body: some Encodable) -> Bool {
        do {
            return try router.send([route] + WireCodec.encode(header: header, body: body))
        } catch {
            logger.debug("Could not route a message.", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Sends a body that is already encoded.
    func sendRaw(to route: Data, header: Header, body: Data) {
        do {
            _ = try router.send([route, WireCodec.json(header), body])
        } catch {
            logger.debug("Could not route a message.", metadata: ["error": "\(error)"])
        }
    }

    func sendError(to route: Data, corr: String?, _ error: ErrorBody) {
        sendRouted(to: route, header: factory.plain(.error, corr: corr), body: error)
    }

    /// Replies with any encodable result, encoded once, straight to JSON.
    func sendReply(to route: Data, corr: String, result: some Encodable) {
        sendRouted(to: route, header: factory.plain(.reply, corr: corr), body: TypedReply(result: result))
    }

    func sendReply(to route: Data, corr: String, error: ErrorBody) {
        sendRouted(to: route, header: factory.plain(.reply, corr: corr), body: Reply(error: error))
    }

    /// Sends to an agent by agentId; forgets its route when it is gone.
    @discardableResult
    func sendToAgent(_ agentId: String, type: MessageType, body: some Encodable) -> Bool {
        guard let route = agentRoutes[agentId] else { return false }
        if sendRouted(to: route, header: factory.plain(type), body: body) { return true }
        agentRoutes[agentId] = nil
        return false
    }
}
