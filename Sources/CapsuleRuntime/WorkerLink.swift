import CapsuleDomain
package import CapsuleProtocol
package import CapsuleZMQ
package import Foundation
package import Logging

/// An internal service's DEALER link to the broker's router, owned by the service's loop thread.
///
/// It announces the service with `worker.ready` (at start and every 2 s, so a restarted broker
/// relearns the route), answers routed requests through a table of typed operations, and sends
/// requests of its own. Given the routers of a broker pair, it talks to one at a time and moves to
/// the active one on a `standby` refusal or when the one it has is unreachable (``BrokerFailover``).
package final class WorkerLink {
    /// Answers one request, now or later (a held `audit.query`, say).
    package struct Responder<Result: Encodable> {
        unowned let link: WorkerLink
        let corr: String
        /// Who asked, as the broker forwarded it (`operator:NAME`, or a service name).
        package let caller: String?

        package func succeed(_ result: Result) {
            link.send(factory: { $0.plain(.reply, corr: corr) }, body: TypedReply(result: result))
        }

        package func fail(_ error: ErrorBody) {
            link.send(factory: { $0.plain(.reply, corr: corr) }, body: Reply(error: error))
        }

        /// Succeeds with the result already encoded as JSON.
        package func succeed(encoded json: Data) {
            link.sendRaw(factory: { $0.plain(.reply, corr: corr) }, body: TypedReply<Result>.body(encodedResult: json))
        }

        package func callAsFunction(_ outcome: Swift.Result<Result, ErrorBody>) {
            switch outcome {
            case .success(let result): succeed(result)
            case .failure(let error): fail(error)
            }
        }
    }

    private let dealer: ZMQSocket
    private var factory: MessageFactory
    private let service: String
    private let logger: Logger
    private var operations: [String: (WireMessage) -> Void] = [:]
    /// Requests sent and waiting: each completion decodes the reply body into its own type.
    private var pending: [String: (deadline: Date, complete: (Result<WireMessage, ErrorBody>) -> Void)] = [:]
    private let now: @Sendable () -> Date
    private let ready: () -> WorkerReady
    private var failover: BrokerFailover
    private let monitor: ZMQMonitor?

    package init(
        service: String,
        loop: PollLoop,
        endpoint: String,
        keyPair: CurveKeyPair,
        serverKey: CurveKey,
        routers: [String]? = nil,
        logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init,
        ready: @escaping () -> WorkerReady
    ) throws {
        self.service = service
        self.logger = logger
        self.now = now
        self.ready = ready
        factory = MessageFactory(sender: service, now: now)
        failover = BrokerFailover(routers: routers ?? [endpoint], now: now())
        let link = try SocketFactory.monitoredClient(
            .dealer,
            context: loop.context,
            endpoint: failover.current,
            keyPair: keyPair,
            serverKey: serverKey,
            options: .internalLink(sendHighWaterMark: 10_000),
            monitored: failover.isPair
        )
        dealer = link.socket
        monitor = link.monitor
        loop.register(dealer) { [unowned self] in self.drain() }
        if let monitor {
            loop.register(monitor.socket) { [unowned self] in self.drainMonitor() }
            loop.every(.milliseconds(100)) { [unowned self] in
                let previous = self.failover.current
                if let next = self.failover.tick(now: self.now()) { self.move(from: previous, to: next) }
            }
        }
        loop.every(.seconds(2)) { [unowned self] in self.announce() }
        announce()
    }

    /// The router this link talks to now.
    package var router: String { failover.current }

    private func drainMonitor() {
        guard let monitor else { return }
        while let event = try? monitor.next() {
            switch event.kind {
            case .handshakeSucceeded: failover.connected(now: now(), endpoint: event.endpoint)
            case .disconnected: failover.disconnected(now: now(), endpoint: event.endpoint)
            default: break
            }
        }
    }

    /// Moves to another broker of the pair: requests in flight fail (the caller retries), and the
    /// service announces itself there at once.
    private func move(from previous: String, to router: String) {
        try? dealer.disconnect(previous)
        try? dealer.connect(router)
        logger.notice(
            "Moving to the other broker of the pair.",
            metadata: ["worker.service": "\(service)", "zmq.endpoint": "\(router)"]
        )
        for (id, entry) in pending {
            pending[id] = nil
            entry.complete(.failure(ErrorBody(.unreachable, "moved to the other broker")))
        }
        announce()
    }

    /// Registers the handler of one operation of this service. `body` answers through the
    /// responder, at once or later; an ``ErrorBody`` it throws is the reply.
    package func on<Op: RequestOperation>(
        _ op: Op.Type,
        _ body: @escaping (Op.Params, Responder<Op.Result>) throws -> Void
    ) {
        precondition(Op.service == service, "\(Op.name) is not an operation of \(service)")
        operations[Op.name] = { [unowned self] message in
            let respond = Responder<Op.Result>(link: self, corr: message.header.id, caller: message.header.caller)
            // The broker checks every caller (OperationPolicy); internal-only operations are checked
            // here once more, in case anything else ever reaches this socket.
            if case .internalOnly(let allowed) = Op.access, !allowed.contains(message.header.caller ?? "") {
                return respond.fail(
                    ErrorBody(.forbidden, "\(Op.name) is only for \(allowed.sorted().joined(separator: ", "))")
                )
            }
            let request: OperationRequest<Op.Params>
            do throws(WireError) {
                request = try message.decode(OperationRequest<Op.Params>.self)
            } catch {
                return respond.fail(ErrorBody(.badRequest, "\(Op.name) params: \(error.detail)"))
            }
            do {
                try body(request.params, respond)
            } catch let error as ErrorBody {
                respond.fail(error)
            } catch {
                logger.error("Request failed.", metadata: ["request.op": "\(Op.name)", "error": "\(error)"])
                respond.fail(ErrorBody(.internal, "\(Op.name) failed: \(error)"))
            }
        }
    }

    package func close() {
        monitor?.socket.close()
        dealer.close()
    }

    private func announce() {
        send(.workerReady, body: ready())
        let current = now()
        for (id, entry) in pending where entry.deadline < current {
            pending[id] = nil
            entry.complete(.failure(ErrorBody(.timeout, "no reply in time")))
        }
    }

    /// Sends a one-way message to the broker.
    package func send(_ type: MessageType, body: some Encodable) {
        send(factory: { $0.plain(type) }, body: body)
    }

    private func sendRaw(factory make: (MessageFactory) -> Header, body: Data) {
        _ = try? dealer.send([WireCodec.json(make(factory)), body])
    }

    private func send(factory make: (MessageFactory) -> Header, body: some Encodable) {
        _ = try? dealer.send(WireCodec.encode(header: make(factory), body: body))
    }

    /// Sends a request to another service through the broker; `onReply` runs on this thread with the
    /// result decoded, or the error (a refusal, a reply that does not decode, no reply in time).
    package func request<Op: RequestOperation>(
        _ op: Op.Type,
        _ params: Op.Params,
        timeout: TimeInterval = 10,
        onReply: @escaping (Result<Op.Result, ErrorBody>) -> Void
    ) {
        let header = factory.plain(.request)
        pending[header.id] = (
            now().addingTimeInterval(timeout),
            { outcome in
                onReply(
                    outcome.flatMap { message in
                        guard let reply = try? message.decodeReply(Op.Result.self) else {
                            return .failure(ErrorBody(.badReply, "unexpected reply to \(Op.name)"))
                        }
                        if let error = reply.error { return .failure(error) }
                        guard let result = reply.result else {
                            return .failure(ErrorBody(.badReply, "\(Op.name) returned no result"))
                        }
                        return .success(result)
                    }
                )
            }
        )
        let body = OperationRequest(service: Op.service, op: Op.name, params: params)
        let sent = (try? dealer.send(WireCodec.encode(header: header, body: body))) ?? false
        if !sent, let entry = pending.removeValue(forKey: header.id) {
            entry.complete(.failure(ErrorBody(.unreachable, "broker unreachable")))
        }
    }

    private func drain() {
        var budget = 1_000
        while budget > 0,
            let message = try? dealer.receive(maxFrames: 4, maxBytes: WireCodec.maxBodyBytes + WireCodec.maxHeaderBytes)
        {
            budget -= 1
            guard !message.oversized, let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else {
                logger.warning(
                    "Dropped a malformed message from the broker.",
                    metadata: ["worker.service": "\(service)"]
                )
                continue
            }
            switch decoded.header.type {
            case .request:
                guard let head = try? decoded.decode(RequestHead.self) else { continue }
                if let handler = operations[head.op] {
                    handler(decoded)
                } else {
                    send(
                        factory: { $0.plain(.reply, corr: decoded.header.id) },
                        body: Reply(
                            error: ErrorBody(
                                .unknownOp,
                                "\(service) has no operation \(SafeText.quoted(head.op, limit: 64))"
                            )
                        )
                    )
                }
            case .reply:
                guard let corr = decoded.header.corr, let entry = pending.removeValue(forKey: corr) else { continue }
                entry.complete(.success(decoded))
            case .error:
                let error = (try? decoded.decode(ErrorBody.self)) ?? ErrorBody(.internal, "error from broker")
                let previous = failover.current
                if let next = failover.refused(error, now: now()) {
                    move(from: previous, to: next)
                    continue
                }
                if let corr = decoded.header.corr, let entry = pending.removeValue(forKey: corr) {
                    entry.complete(.failure(error))
                } else {
                    logger.warning(
                        "The broker reported an error.",
                        metadata: ["error.code": "\(error.code)", "error.message": "\(error.message)"]
                    )
                }
            default:
                continue
            }
        }
    }
}
