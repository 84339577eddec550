import CapsuleDomain
import CapsuleProtocol
import CapsuleZMQ
import Foundation
import Logging

/// An internal service's DEALER link to the broker's router, owned by the service's loop thread.
///
/// It announces the service with `worker.ready` (at start and every 2 s, so a restarted broker
/// relearns the route), answers routed requests through `handler`, and sends requests of its own.
package final class WorkerLink {
    /// Answers one routed request with any encodable result, or a structured error.
    package typealias Handler = (Request, Header) -> Result<any Encodable, ErrorBody>

    private let dealer: ZMQSocket
    private var factory: MessageFactory
    private let service: String
    private let logger: Logger
    private var handler: Handler = { request, _ in .failure(ErrorBody(code: "unknown_op", message: "no operation \(request.op)")) }
    /// Requests sent and waiting: each completion decodes the reply body into its own type.
    private var pending: [String: (deadline: Date, complete: (Result<WireMessage, ErrorBody>) -> Void)] = [:]
    private let now: @Sendable () -> Date

    package init(
        service: String,
        loop: PollLoop,
        endpoint: String,
        keyPair: CurveKeyPair,
        serverKey: CurveKey,
        logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init
    ) throws {
        self.service = service
        self.logger = logger
        self.now = now
        factory = MessageFactory(sender: service, now: now)
        var options = ZMQSocketOptions.agent(jitter: 500)
        options.immediate = false
        options.reconnectIntervalMax = 5_000
        options.sendHighWaterMark = 10_000
        dealer = try SocketFactory.client(.dealer, context: loop.context, endpoint: endpoint, keyPair: keyPair,
                                          serverKey: serverKey, options: options)
        loop.register(dealer) { [unowned self] in self.drain() }
        loop.every(.seconds(2)) { [unowned self] in self.announce() }
        announce()
    }

    /// Sets the function that answers requests routed to this service.
    package func onRequest(_ handler: @escaping Handler) { self.handler = handler }

    package func close() { dealer.close() }

    private func announce() {
        send(.workerReady, body: WorkerReady(service: service))
        let current = now()
        for (id, entry) in pending where entry.deadline < current {
            pending[id] = nil
            entry.complete(.failure(ErrorBody(code: "timeout", message: "no reply in time")))
        }
    }

    /// Sends a one-way message to the broker.
    package func send(_ type: MessageType, body: some Encodable) {
        _ = try? dealer.send(WireCodec.encode(header: factory.plain(type), body: body))
    }

    /// Sends a request to another service through the broker; `onReply` runs on this thread with the
    /// result decoded as `T`, or the error (a refusal, a reply that does not decode, no reply in time).
    package func request<T: Decodable>(
        service target: String, op: String, params: JSONValue, as type: T.Type, timeout: TimeInterval = 10,
        onReply: @escaping (Result<T, ErrorBody>) -> Void
    ) {
        let header = factory.plain(.request)
        pending[header.id] = (now().addingTimeInterval(timeout), { outcome in
            onReply(outcome.flatMap { message in
                guard let reply = try? message.decode(TypedReply<T>.self) else {
                    return .failure(ErrorBody(code: "bad_reply", message: "unexpected reply to \(op)"))
                }
                if let error = reply.error { return .failure(error) }
                guard let result = reply.result else { return .failure(ErrorBody(code: "bad_reply", message: "\(op) returned no result")) }
                return .success(result)
            })
        })
        let sent = (try? dealer.send(WireCodec.encode(header: header, body: Request(service: target, op: op, params: params)))) ?? false
        if !sent, let entry = pending.removeValue(forKey: header.id) {
            entry.complete(.failure(ErrorBody(code: "unreachable", message: "broker unreachable")))
        }
    }

    private func reply(_ result: some Encodable, to request: Header) {
        _ = try? dealer.send(WireCodec.encode(header: factory.plain(.reply, corr: request.id), body: TypedReply(result: result)))
    }

    private func drain() {
        var budget = 1_000
        while budget > 0, let message = try? dealer.receive(maxFrames: 4, maxBytes: WireCodec.maxBodyBytes + WireCodec.maxHeaderBytes) {
            budget -= 1
            guard !message.oversized, let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else {
                logger.warning("Dropped a malformed message from the broker.", metadata: ["worker.service": "\(service)"])
                continue
            }
            switch decoded.header.type {
            case .request:
                guard let request = try? decoded.decode(Request.self) else { continue }
                switch handler(request, decoded.header) {
                case .success(let result): reply(result, to: decoded.header)
                case .failure(let error):
                    _ = try? dealer.send(WireCodec.encode(header: factory.plain(.reply, corr: decoded.header.id), body: Reply(error: error)))
                }
            case .reply:
                guard let corr = decoded.header.corr, let entry = pending.removeValue(forKey: corr) else { continue }
                entry.complete(.success(decoded))
            case .error:
                let error = (try? decoded.decode(ErrorBody.self)) ?? ErrorBody(code: "unknown", message: "error from broker")
                if let corr = decoded.header.corr, let entry = pending.removeValue(forKey: corr) {
                    entry.complete(.failure(error))
                } else {
                    logger.warning("The broker reported an error.", metadata: ["error.code": "\(error.code)", "error.message": "\(error.message)"])
                }
            default:
                continue
            }
        }
    }
}
