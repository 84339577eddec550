import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Logging

/// The agent's sockets, on their own thread: a DEALER for hello and commands, a PUB for reports.
/// A thin shell: ``AgentSession`` decides, this carries it out.
final class AgentCore: LoopCore {
    struct Endpoints: Sendable {
        var router: String
        var ingest: String
        var serverKey: CurveKey
        var keyPair: CurveKeyPair
        /// A broker pair: every broker's router and ingest, in order (the first are the above).
        var pair: [BrokerInfo.Endpoints]? = nil
    }

    private let loop: PollLoop
    private let endpoints: Endpoints
    private let agentCode: String
    private let enrollmentToken: String?
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let events: AsyncStream<AgentEvent>.Continuation
    private let dealer: ZMQSocket
    private let dealerMonitor: ZMQMonitor
    private var publisher: ZMQSocket?
    private var publisherMonitor: ZMQMonitor?
    private var factory: MessageFactory
    private var session = AgentSession()
    /// Which broker of a pair the DEALER talks to; the PUB is connected to every broker's ingest,
    /// and only the active one binds it.
    private var failover: BrokerFailover
    private var manifests: [ServiceManifest] = []
    private var digest = ManifestDigest.of([])
    private var helloId: String?
    /// Header id of each result sent recently → its command, to answer an `oversized` refusal.
    private var sentResults: [String: String] = [:]
    private(set) var droppedStale = 0

    init(
        loop: PollLoop,
        endpoints: Endpoints,
        agentCode: String,
        enrollmentToken: String?,
        logger: Logger,
        now: @escaping @Sendable () -> Date,
        events: AsyncStream<AgentEvent>.Continuation
    ) throws {
        self.loop = loop
        self.endpoints = endpoints
        self.agentCode = agentCode
        self.enrollmentToken = enrollmentToken
        self.logger = logger
        self.now = now
        self.events = events
        self.factory = MessageFactory(sender: agentCode, now: now)
        failover = BrokerFailover(routers: endpoints.pair?.map(\.router) ?? [endpoints.router], now: now())
        let link = try SocketFactory.monitoredClient(
            .dealer,
            context: loop.context,
            endpoint: endpoints.router,
            keyPair: endpoints.keyPair,
            serverKey: endpoints.serverKey,
            monitored: true
        )
        dealer = link.socket
        dealerMonitor = link.monitor!
        loop.register(dealer) { [unowned self] in self.drainDealer() }
        loop.register(dealerMonitor.socket) { [unowned self] in self.drainDealerMonitor() }
        loop.every(.milliseconds(100)) { [unowned self] in
            let previous = self.failover.current
            if let next = self.failover.tick(now: self.now()) { self.move(from: previous, to: next) }
            self.perform(self.session.tick(now: self.now()))
        }
    }

    func shutdown() {
        dealerMonitor.socket.close()
        publisherMonitor?.socket.close()
        dealer.close()
        publisher?.close()
    }

    private func perform(_ actions: [AgentSession.Action]) {
        for action in actions {
            switch action {
            case .sendHello:
                let hello = AgentHello(
                    agentCode: agentCode,
                    services: manifests.map(\.code),
                    manifestDigest: digest,
                    software: "CapsuleAgentKit/\(CapsuleVersion.current)",
                    enrollmentToken: enrollmentToken
                )
                let header = factory.plain(.agentHello)
                helloId = header.id
                _ = try? dealer.send(WireCodec.encode(header: header, body: hello))
            case .openPublisher:
                openPublisher()
            case .publishReport:
                publishReport()
            case .reportRefusal(let error, let final):
                if final {
                    logger.error(
                        "The broker refused this agent; it will not retry until restarted.",
                        metadata: ["error.code": "\(error.code)", "error.message": "\(error.message)"]
                    )
                } else {
                    logger.warning(
                        "The broker refused this agent for now; retrying every 30 s.",
                        metadata: ["error.code": "\(error.code)", "error.message": "\(error.message)"]
                    )
                }
            }
        }
    }

    // MARK: DEALER

    private func drainDealerMonitor() {
        while let event = try? dealerMonitor.next() {
            switch event.kind {
            case .handshakeSucceeded:
                logger.info("Connected to the broker.", metadata: ["zmq.endpoint": "\(event.endpoint)"])
                failover.connected(now: now(), endpoint: event.endpoint)
                perform(session.dealerConnected(now: now()))
            case .disconnected:
                logger.info("Lost the broker link; reconnecting.", metadata: ["zmq.endpoint": "\(event.endpoint)"])
                failover.disconnected(now: now(), endpoint: event.endpoint)
                session.dealerDisconnected()
            case .handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail:
                logger.info(
                    "Broker refused the handshake.",
                    metadata: ["zmq.endpoint": "\(event.endpoint)", "zap.status": "\(event.value)"]
                )
            default:
                break
            }
        }
    }

    private func drainDealer() {
        dealer.drain(budget: 1_000, maxBytes: WireCodec.maxBodyBytes + 8_192) { message in
            guard !message.oversized, let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else {
                logger.warning("Dropped a malformed message from the broker.")
                return
            }
            switch decoded.header.type {
            case .agentWelcome:
                guard let welcome = try? decoded.decode(AgentWelcome.self) else { return }
                if session.agentId != welcome.agentId {
                    factory = MessageFactory(sender: welcome.agentId, startingSeq: factory.seq, now: now)
                    logger.info("Broker welcomed this agent.", metadata: ["agent.id": "\(welcome.agentId)"])
                }
                perform(session.welcome(agentId: welcome.agentId, now: now()))
                events.yield(.welcome(agentId: welcome.agentId, heartbeatSeconds: welcome.heartbeatSeconds))
            case .commandDispatch:
                if let dispatch = try? decoded.decode(CommandDispatch.self) { events.yield(.dispatch(dispatch)) }
            case .commandCancel:
                if let ref = try? decoded.decode(CommandRef.self) { events.yield(.cancel(ref)) }
            case .reportRequest:
                perform(session.reportNeeded(now: now()))
            case .error:
                handleError(decoded)
            default:
                return
            }
        }
    }

    /// An `error` from the broker: about the hello (final or retryable), or about a result of ours.
    private func handleError(_ decoded: WireMessage) {
        let error = (try? decoded.decode(ErrorBody.self)) ?? ErrorBody(.internal, "")
        let previous = failover.current
        if let next = failover.refused(error, now: now()) {
            move(from: previous, to: next)
            return
        }
        if let corr = decoded.header.corr, corr == helloId {
            perform(session.helloRefused(error))
            return
        }
        if let corr = decoded.header.corr, let commandId = sentResults.removeValue(forKey: corr),
            error.code == .oversized
        {
            // The broker could not read our result: say so in a result it can read.
            sendResult(
                CommandResult(
                    commandId: commandId,
                    success: false,
                    error: ErrorBody(.resultTooLarge, "the result was too large for the broker: \(error.message)")
                )
            )
            return
        }
        // command_terminal, unknown_command: the broker already has the last word; nothing to resend.
        logger.info(
            "The broker refused a message.",
            metadata: ["error.code": "\(error.code)", "error.message": "\(error.message)"]
        )
    }

    /// Moves the DEALER to another broker of the pair; the hello goes out once it is connected.
    private func move(from previous: String, to router: String) {
        try? dealer.disconnect(previous)
        try? dealer.connect(router)
        session.dealerDisconnected()
        logger.notice("Moving to the other broker of the pair.", metadata: ["zmq.endpoint": "\(router)"])
    }

    // MARK: PUB

    private func openPublisher() {
        guard publisher == nil else { return }
        do {
            let (socket, monitor) = try SocketFactory.monitoredClient(
                .pub,
                context: loop.context,
                endpoint: endpoints.ingest,
                keyPair: endpoints.keyPair,
                serverKey: endpoints.serverKey,
                monitored: true
            )
            guard let monitor else { return }
            for other in endpoints.pair?.dropFirst() ?? [] { try socket.connect(other.ingest) }
            loop.register(monitor.socket) { [unowned self] in self.drainPublisherMonitor() }
            publisher = socket
            publisherMonitor = monitor
        } catch {
            logger.error("Could not open the report socket.", metadata: ["error": "\(error)"])
        }
    }

    private func drainPublisherMonitor() {
        while let event = try? publisherMonitor?.next() {
            switch event.kind {
            case .handshakeSucceeded: session.publisherConnected(now: now())
            case .disconnected: session.publisherDisconnected()
            default: break
            }
        }
    }

    private func publishReport() {
        guard let agentId = session.agentId, let publisher, !manifests.isEmpty else { return }
        let report = ServiceReport(agentId: agentId, agentCode: agentCode, services: manifests)
        if (try? publisher.send(
            WireCodec.encode(topic: Topic.report(agentId), header: factory.sequenced(.serviceReport), body: report)
        )) == true {
            session.reportPublished()
        }
    }

    // MARK: Called from the async side through post()

    /// Updates the manifests; a changed digest is reported at once.
    func update(manifests: [ServiceManifest]) {
        let newDigest = ManifestDigest.of(manifests)
        guard newDigest != digest else { return }
        self.manifests = manifests
        digest = newDigest
        perform(session.reportNeeded(now: now()))
    }

    /// Publishes a heartbeat sampled at `sampledAt`. One that cannot go out now (not welcomed, PUB
    /// down), or is already older than an interval, is dropped and counted instead of sent late.
    func heartbeat(_ samples: [ServiceHealth], interval: Double, sampledAt: Date) {
        let current = now()
        guard let agentId = session.agentId, let publisher, session.canPublish(now: current),
            current.timeIntervalSince(sampledAt) <= interval
        else {
            droppedStale += 1
            return
        }
        let body = Heartbeat(
            agentId: agentId,
            agentCode: agentCode,
            manifestDigest: digest,
            intervalSeconds: interval,
            services: samples,
            droppedStale: droppedStale
        )
        _ = try? publisher.send(
            WireCodec.encode(topic: Topic.heartbeat(agentId), header: factory.sequenced(.heartbeat), body: body)
        )
    }

    func acknowledge(_ commandId: String) {
        _ = try? dealer.send(
            WireCodec.encode(header: factory.plain(.commandAck), body: CommandRef(commandId: commandId))
        )
    }

    func sendResult(_ result: CommandResult) {
        let header = factory.plain(.commandResult)
        sentResults[header.id] = result.commandId
        if sentResults.count > 1_000 { sentResults.removeAll() }
        _ = try? dealer.send(WireCodec.encode(header: header, body: result))
    }
}
