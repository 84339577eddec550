import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

/// The aggregator's sockets and board, on one loop thread. Reports are folded synchronously here.
final class AggregatorCore: LoopCore {
    let configuration: AggregatorConfiguration
    let store: AggregatorStore
    let logger: Logger
    let subscriber: ZMQSocket
    let publisher: ZMQSocket
    let link: WorkerLink
    var board: StatusBoard
    let factory: MessageFactory
    var lastReportRequest: [String: Date] = [:]
    var received = 0
    var dropped = 0

    init(configuration: AggregatorConfiguration, store: AggregatorStore, loop: PollLoop, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.factory = MessageFactory(sender: AggregatorStore.publisher, now: configuration.now)
        let loaded = try store.load()
        board = StatusBoard(thresholds: configuration.thresholds, agents: loaded.agents, services: loaded.services)

        var options = ZMQSocketOptions.agent(jitter: 500)
        options.immediate = false
        options.reconnectIntervalMax = 5_000
        options.receiveHighWaterMark = 100_000
        options.sendHighWaterMark = 100_000
        subscriber = try SocketFactory.client(.sub, context: loop.context, endpoint: configuration.broker.bus,
                                              keyPair: configuration.keyPair, serverKey: configuration.brokerKey, options: options)
        for prefix in [Topic.heartbeatPrefix, Topic.healthPrefix, Topic.reportPrefix, "evt.agent."] {
            try subscriber.subscribe(prefix)
        }
        publisher = try SocketFactory.client(.pub, context: loop.context, endpoint: configuration.broker.ingest,
                                             keyPair: configuration.keyPair, serverKey: configuration.brokerKey, options: options)
        link = try WorkerLink(service: "aggregator", loop: loop, endpoint: configuration.broker.router,
                              keyPair: configuration.keyPair, serverKey: configuration.brokerKey, logger: logger, now: configuration.now)
        link.onRequest { [unowned self] request, _ in self.answer(request) }

        loop.register(subscriber) { [unowned self] in self.drain() }
        loop.every(.milliseconds(configuration.sweepMilliseconds)) { [unowned self] in self.sweep() }
        loop.every(.seconds(1)) { [unowned self] in self.beacon() }
        loop.every(.seconds(5)) { [unowned self] in self.reconcileAdminState() }
        reconcileAdminState()
        logger.info("Aggregator started.", metadata: [
            "agents": "\(board.agents.count)", "services": "\(board.services.count)", "zmq.bus": "\(configuration.broker.bus)",
        ])
    }

    func shutdown() {
        persist([])
        logger.info("Aggregator stopping.", metadata: ["received": "\(received)", "dropped": "\(dropped)"])
        subscriber.close()
        publisher.close()
        link.close()
    }

    private var now: Date { configuration.now() }

    private func drain() {
        var budget = 2_000
        var transitions: [Transition] = []
        while budget > 0, let message = try? subscriber.receive(maxFrames: 4, maxBytes: WireCodec.maxBodyBytes + 8_192) {
            budget -= 1
            received += 1
            guard !message.oversized, let decoded = try? WireCodec.decode(message.frames, hasTopic: true) else {
                dropped += 1
                continue
            }
            do {
                switch decoded.header.type {
                case .heartbeat:
                    let heartbeat = try decoded.decode(Heartbeat.self)
                    transitions += board.apply(heartbeat, now: now)
                    requestReportIfNeeded(heartbeat.agentId)
                case .health:
                    transitions += board.apply(try decoded.decode(HealthUpdate.self), now: now)
                case .serviceReport:
                    transitions += board.apply(try decoded.decode(ServiceReport.self), now: now)
                case .event:
                    transitions += applyAdminEvent(try decoded.decode(AuditEvent.self))
                default:
                    break
                }
            } catch {
                dropped += 1
                logger.warning("Dropped an undecodable report.", metadata: ["error": "\(error)", "peer": "\(decoded.header.sender)"])
            }
        }
        if !transitions.isEmpty { persist(transitions) }
    }

    /// Broker events that change an agent's administrative state.
    private func applyAdminEvent(_ event: AuditEvent) -> [Transition] {
        guard event.subject.hasPrefix("agent:") else { return [] }
        let agentId = String(event.subject.dropFirst("agent:".count))
        switch event.action {
        case "agent.disabled": return board.setAdminStatus(.disabled, agentId: agentId, now: now)
        case "agent.revoked": return board.setAdminStatus(.revoked, agentId: agentId, now: now)
        case "agent.enabled": return board.setAdminStatus(nil, agentId: agentId, now: now)
        default: return []
        }
    }

    /// Pulls every agent's administrative state from the broker, in case a disable or revoke event
    /// was published while this aggregator was down.
    private func reconcileAdminState() {
        link.request(service: "broker", op: "agent.list", params: .object([:]), as: [BrokerStore.AgentRecord].self) { [unowned self] reply in
            guard case .success(let agents) = reply else { return }
            var transitions: [Transition] = []
            for agent in agents {
                let wanted: AgentStatus? = agent.state == .disabled ? .disabled : agent.state == .revoked ? .revoked : nil
                if let known = self.board.agents[agent.id], known.adminStatus != wanted {
                    transitions += self.board.setAdminStatus(wanted, agentId: agent.id, now: self.now)
                }
            }
            if !transitions.isEmpty { self.persist(transitions) }
        }
    }

    private func requestReportIfNeeded(_ agentId: String) {
        guard board.needsReport(agentId: agentId) else { return }
        let current = now
        if let last = lastReportRequest[agentId], current.timeIntervalSince(last) < 5 { return }
        lastReportRequest[agentId] = current
        link.send(.reportRequest, body: ReportRequest(agentId: agentId, reason: "manifest digest unknown"))
    }

    private func sweep() {
        persist(board.sweep(now: now))
    }

    /// Writes dirty state and transitions in one transaction, then publishes the journalled events.
    private func persist(_ transitions: [Transition]) {
        let agents = board.dirtyAgents.compactMap { board.agents[$0] }
        let services = board.dirtyServices.compactMap { board.services[$0] }
        guard !agents.isEmpty || !services.isEmpty || !transitions.isEmpty else { return }
        do {
            let events = try store.commit(agents: agents, services: services, transitions: transitions)
            board.clearDirty()
            for event in events {
                logger.info("Status changed.", metadata: [
                    "subject": "\(event.subject)", "from": "\(event.from ?? "-")", "to": "\(event.to ?? "-")", "reason": "\(event.reason ?? "")",
                ])
                publish(event)
            }
        } catch {
            logger.error("Could not persist state.", metadata: ["error": "\(error)"])
        }
    }

    private func publish(_ event: AuditEvent) {
        _ = try? publisher.send(factory.event(event))
    }

    private func beacon() {
        guard let last = try? store.journalLastSeq() else { return }
        _ = try? publisher.send(factory.beacon(lastSeq: last))
    }
}
