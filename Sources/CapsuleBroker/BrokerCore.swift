import CapsuleCrypto
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import CZeroMQ
import Foundation
import Logging

/// The broker's state and sockets. Lives on one ``LoopThread``; every handler runs there, synchronously.
final class BrokerCore: LoopCore {
    let configuration: BrokerConfiguration
    let store: BrokerStore
    var logger: Logger
    let keyPair: CurveKeyPair
    /// Seals raw command payloads at rest (the key lives in `keys/payload.key`).
    let payloadBox: SecretBox

    let ingest: ZMQSocket
    let bus: ZMQSocket
    let router: ZMQSocket
    let zap: ZMQSocket

    /// Enrolled keys by Z85 public key; the allow-list every message is checked against.
    var principals: [String: Principal] = [:]
    /// Current ROUTER routing id of each connected agent, learned from authenticated messages only.
    var agentRoutes: [String: Data] = [:]
    /// Routing id of each internal service that announced itself with `worker.ready`.
    var workerRoutes: [String: Data] = [:]
    /// Requests forwarded to a worker and waiting for its reply.
    var pendingRequests: [String: PendingRequest] = [:]
    /// Service code → owner and manifest, as reported through ingest.
    var services: [String: BrokerStore.ServiceRecord] = [:]
    var drops = DropCounter()
    var rateLimiter: RateLimiter
    /// When each kind of refusal was last audited, so a flood does not flood the audit trail.
    var lastRefusalAudit: [String: Date] = [:]
    var factory: MessageFactory
    var forwarded = 0

    struct PendingRequest {
        var client: Data
        var originalId: String
        var deadline: Date
    }

    init(configuration: BrokerConfiguration, store: BrokerStore, keyPair: CurveKeyPair, payloadBox: SecretBox, loop: PollLoop,
         logger: Logger) throws {
        self.configuration = configuration
        self.payloadBox = payloadBox
        self.store = store
        self.keyPair = keyPair
        self.logger = logger
        self.factory = MessageFactory(sender: "broker", now: configuration.now)
        self.rateLimiter = RateLimiter(ratePerSecond: configuration.maxMessagesPerSecond, burst: configuration.burstMessages)
        let context = loop.context

        // ZAP first: a CURVE server with ZAP_ENFORCE_DOMAIN refuses everyone until this answers.
        zap = try ZMQSocket(context: context, type: .rep, lingerMilliseconds: 0)
        try zap.bind("inproc://zeromq.zap.01")

        var serverOptions = ZMQSocketOptions()
        serverOptions.maxMessageSize = Int64(configuration.maxMessageBytes + 8 * 1024)
        serverOptions.heartbeatInterval = 5_000
        serverOptions.heartbeatTimeout = 15_000
        serverOptions.linger = 200

        ingest = try ZMQSocket(context: context, type: .xsub)
        try ingest.apply(serverOptions)
        try ingest.setOption(ZMQ_RCVHWM, Int32(100_000))
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
        var routerOptions = serverOptions
        routerOptions.routerMandatory = true
        try router.apply(routerOptions)
        try router.makeCurveServer(secretKey: keyPair.secretKey, zapDomain: "router")
        try router.bind(configuration.routerBind)

        for principal in try store.principals() { principals[principal.publicKey] = principal }
        for service in try store.services() { services[service.code] = service }

        loop.register(zap) { [unowned self] in self.drainZAP() }
        loop.register(ingest) { [unowned self] in self.drainIngest() }
        loop.register(bus) { [unowned self] in self.drainBusSubscriptions() }
        loop.register(router) { [unowned self] in self.drainRouter() }
        loop.every(.milliseconds(500)) { [unowned self] in self.tick() }
        loop.every(.seconds(1)) { [unowned self] in self.publishBeacon() }

        let endpoints = (try ingest.lastEndpoint(), try bus.lastEndpoint(), try router.lastEndpoint())
        logger.info(
            "Broker listening.",
            metadata: ["zmq.ingest": "\(endpoints.0)", "zmq.bus": "\(endpoints.1)", "zmq.router": "\(endpoints.2)",
                       "principals": "\(principals.count)"]
        )
    }

    func shutdown() {
        logger.info("Broker stopping.", metadata: ["drops": "\(drops.total)", "forwarded": "\(forwarded)"])
        for socket in [ingest, bus, router, zap] { socket.close() }
    }

    var now: Date { configuration.now() }

    // MARK: ZAP

    private func drainZAP() {
        while let message = try? zap.receive(maxFrames: 16, maxBytes: 4096) {
            let frames = message.frames
            guard frames.count >= 6 else {
                _ = try? zap.send([Data("1.0".utf8), frames.count > 1 ? frames[1] : Data(), Data("400".utf8),
                                   Data("bad ZAP request".utf8), Data(), Data()])
                continue
            }
            let domain = String(decoding: frames[2], as: UTF8.self)
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            let key = frames.count > 6 ? CurveKey(bytes: [UInt8](frames[6]))?.z85 : nil
            let decision = ZAPHandler.decide(mechanism: mechanism, domain: domain, publicKey: key, principal: key.flatMap { principals[$0] })
            if decision.status != "200" {
                logger.notice("Refused a connection.", metadata: [
                    "zap.domain": "\(domain)", "zap.reason": "\(decision.text)", "peer.key": "\(key ?? "-")",
                    "peer.address": "\(String(decoding: frames[3], as: UTF8.self))",
                ])
            }
            _ = try? zap.send([Data("1.0".utf8), frames[1], Data(decision.status.utf8), Data(decision.text.utf8),
                               Data(decision.userId.utf8), Data()])
        }
    }

    // MARK: Bus

    private func drainBusSubscriptions() {
        // Subscription frames from internal subscribers; libzmq applies them, we only drain.
        while (try? bus.receive(maxFrames: 2, maxBytes: 4096)) != nil {}
    }

    /// Publishes an event the broker journalled itself.
    func publish(_ event: AuditEvent) {
        _ = try? bus.send(factory.event(event))
    }

    private func publishBeacon() {
        guard let last = try? store.journalLastSeq() else { return }
        _ = try? bus.send(factory.beacon(lastSeq: last))
    }

    /// Journals and publishes a free-standing event.
    func record(_ make: @escaping @Sendable (UInt64) -> AuditEvent) {
        do {
            publish(try store.journal(make))
        } catch {
            logger.error("Could not journal an event.", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Timers

    private func tick() {
        let current = now
        pendingRequests = pendingRequests.filter { id, pending in
            if pending.deadline > current { return true }
            sendError(to: pending.client, corr: pending.originalId, code: "timeout", message: "no reply from the service in time")
            return false
        }
        expireCommands(now: current)
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

    func sendError(to route: Data, corr: String?, code: String, message: String) {
        sendRouted(to: route, header: factory.plain(.error, corr: corr), body: ErrorBody(code: code, message: message))
    }

    /// Replies with any encodable result, encoded once, straight to JSON.
    func sendReply(to route: Data, corr: String, result: some Encodable) {
        sendRouted(to: route, header: factory.plain(.reply, corr: corr), body: TypedReply(result: result))
    }

    func sendReply(to route: Data, corr: String, error: ErrorBody) {
        sendRouted(to: route, header: factory.plain(.reply, corr: corr), body: Reply(error: error))
    }
}
