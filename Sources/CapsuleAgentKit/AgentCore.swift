import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Logging

/// The agent's sockets, on their own thread: a DEALER for hello and commands, a PUB for reports.
final class AgentCore: LoopCore {
    struct Endpoints: Sendable {
        var router: String
        var ingest: String
        var serverKey: CurveKey
        var keyPair: CurveKeyPair
    }

    private let loop: PollLoop
    private let endpoints: Endpoints
    private let agentCode: String
    private let enrollmentToken: String?
    private let logger: Logger
    private let events: AsyncStream<AgentEvent>.Continuation
    private let dealer: ZMQSocket
    private let dealerMonitor: ZMQMonitor
    private var publisher: ZMQSocket?
    private var publisherMonitor: ZMQMonitor?
    private var factory: MessageFactory
    private var agentId: String?
    private var manifests: [ServiceManifest] = []
    private var digest = ManifestDigest.of([])
    /// When the PUB link is up long enough for the broker's subscription to have arrived.
    private var publishReadyAt: Date?
    private var reportPending = true
    private var lastHelloAt = Date.distantPast
    private var welcomed = false
    private(set) var droppedStale = 0

    init(loop: PollLoop, endpoints: Endpoints, agentCode: String, enrollmentToken: String?, logger: Logger,
         events: AsyncStream<AgentEvent>.Continuation) throws {
        self.loop = loop
        self.endpoints = endpoints
        self.agentCode = agentCode
        self.enrollmentToken = enrollmentToken
        self.logger = logger
        self.events = events
        self.factory = MessageFactory(sender: agentCode)
        let link = try SocketFactory.monitoredClient(.dealer, context: loop.context, endpoint: endpoints.router,
                                                     keyPair: endpoints.keyPair, serverKey: endpoints.serverKey, monitored: true)
        dealer = link.socket
        dealerMonitor = link.monitor!
        loop.register(dealer) { [unowned self] in self.drainDealer() }
        loop.register(dealerMonitor.socket) { [unowned self] in self.drainDealerMonitor() }
        loop.every(.milliseconds(100)) { [unowned self] in self.tick() }
    }

    func shutdown() {
        dealerMonitor.socket.close()
        publisherMonitor?.socket.close()
        dealer.close()
        publisher?.close()
    }

    // MARK: DEALER

    private func sendHello() {
        lastHelloAt = Date()
        let hello = AgentHello(agentCode: agentCode, services: manifests.map(\.code), manifestDigest: digest,
                               software: "CapsuleAgentKit/1", enrollmentToken: enrollmentToken)
        _ = try? dealer.send(WireCodec.encode(header: factory.plain(.agentHello), body: hello))
    }

    private func drainDealerMonitor() {
        while let event = try? dealerMonitor.next() {
            switch event.kind {
            case .handshakeSucceeded:
                logger.info("Connected to the broker.", metadata: ["zmq.endpoint": "\(event.endpoint)"])
                sendHello()
            case .disconnected:
                logger.notice("Lost the broker link; reconnecting.", metadata: ["zmq.endpoint": "\(event.endpoint)"])
                welcomed = false
            case .handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail:
                logger.warning("Broker refused the handshake.", metadata: ["zmq.endpoint": "\(event.endpoint)", "zap.status": "\(event.value)"])
            default:
                break
            }
        }
    }

    private func drainDealer() {
        while let message = try? dealer.receive(maxFrames: 4, maxBytes: WireCodec.maxBodyBytes + 8_192) {
            guard !message.oversized, let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else {
                logger.warning("Dropped a malformed message from the broker.")
                continue
            }
            switch decoded.header.type {
            case .agentWelcome:
                guard let welcome = try? decoded.decode(AgentWelcome.self) else { continue }
                welcomed = true
                if agentId != welcome.agentId {
                    agentId = welcome.agentId
                    factory = MessageFactory(sender: welcome.agentId, startingSeq: factory.seq)
                    logger.info("Broker welcomed this agent.", metadata: ["agent.id": "\(welcome.agentId)"])
                }
                openPublisher()
                reportPending = true
                events.yield(.welcome(agentId: welcome.agentId, heartbeatSeconds: welcome.heartbeatSeconds))
            case .commandDispatch:
                if let dispatch = try? decoded.decode(CommandDispatch.self) { events.yield(.dispatch(dispatch)) }
            case .commandCancel:
                if let ref = try? decoded.decode(CommandRef.self) { events.yield(.cancel(ref)) }
            case .reportRequest:
                reportPending = true
            case .error:
                let error = (try? decoded.decode(ErrorBody.self)) ?? ErrorBody(code: "unknown", message: "")
                logger.error("The broker refused a message.", metadata: ["error.code": "\(error.code)", "error.message": "\(error.message)"])
            default:
                continue
            }
        }
    }

    // MARK: PUB

    private func openPublisher() {
        guard publisher == nil else { return }
        do {
            let (socket, monitor) = try SocketFactory.monitoredClient(
                .pub, context: loop.context, endpoint: endpoints.ingest, keyPair: endpoints.keyPair, serverKey: endpoints.serverKey,
                monitored: true)
            guard let monitor else { return }
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
            case .handshakeSucceeded:
                // The broker's subscription follows the handshake; give it a moment (slow joiner).
                publishReadyAt = Date().addingTimeInterval(0.2)
                reportPending = true
            case .disconnected:
                publishReadyAt = nil
            default:
                break
            }
        }
    }

    private func tick() {
        if !welcomed && Date().timeIntervalSince(lastHelloAt) > 5 { sendHello() }
        if reportPending, let ready = publishReadyAt, ready <= Date(), agentId != nil, !manifests.isEmpty {
            publishReport()
        }
    }

    private func publishReport() {
        guard let agentId, let publisher else { return }
        let report = ServiceReport(agentId: agentId, agentCode: agentCode, services: manifests)
        if (try? publisher.send(WireCodec.encode(topic: Topic.report(agentId), header: factory.sequenced(.serviceReport), body: report))) == true {
            reportPending = false
        }
    }

    // MARK: Called from the async side through post()

    /// Updates the manifests; a changed digest is reported at once.
    func update(manifests: [ServiceManifest]) {
        let newDigest = ManifestDigest.of(manifests)
        if newDigest != digest {
            self.manifests = manifests
            digest = newDigest
            reportPending = true
        }
    }

    /// Publishes a heartbeat sampled at `sampledAt`. One that is already older than an interval is
    /// dropped and counted instead of flushed late.
    func heartbeat(_ samples: [ServiceHealth], interval: Double, sampledAt: Date) {
        guard let agentId, let publisher, publishReadyAt != nil else {
            droppedStale += 1
            return
        }
        if Date().timeIntervalSince(sampledAt) > interval {
            droppedStale += 1
            return
        }
        let body = Heartbeat(agentId: agentId, agentCode: agentCode, manifestDigest: digest, intervalSeconds: interval,
                             services: samples, droppedStale: droppedStale)
        _ = try? publisher.send(WireCodec.encode(topic: Topic.heartbeat(agentId), header: factory.sequenced(.heartbeat), body: body))
    }

    func acknowledge(_ commandId: String) {
        _ = try? dealer.send(WireCodec.encode(header: factory.plain(.commandAck), body: CommandRef(commandId: commandId)))
    }

    func sendResult(_ result: CommandResult) {
        _ = try? dealer.send(WireCodec.encode(header: factory.plain(.commandResult), body: result))
    }
}
