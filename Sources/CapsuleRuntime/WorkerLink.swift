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
    package typealias Handler = (Request, Header) -> Result<JSONValue, ErrorBody>

    private let dealer: ZMQSocket
    private var factory: MessageFactory
    private let service: String
    private let logger: Logger
    private var handler: Handler = { request, _ in .failure(ErrorBody(code: "unknown_op", message: "no operation \(request.op)")) }
    private var pending: [String: (deadline: Date, onReply: (Reply) -> Void)] = [:]
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
            entry.onReply(Reply(error: ErrorBody(code: "timeout", message: "no reply in time")))
        }
    }

    /// Sends a one-way message to the broker.
    package func send(_ type: MessageType, body: some Encodable) {
        _ = try? dealer.send(WireCodec.encode(header: factory.plain(type), body: body))
    }

    /// Sends a request to another service through the broker; `onReply` runs on this thread.
    package func request(service target: String, op: String, params: JSONValue, timeout: TimeInterval = 10, onReply: @escaping (Reply) -> Void) {
        let header = factory.plain(.request)
        pending[header.id] = (now().addingTimeInterval(timeout), onReply)
        let sent = (try? dealer.send(WireCodec.encode(header: header, body: Request(service: target, op: op, params: params)))) ?? false
        if !sent {
            pending[header.id] = nil
            onReply(Reply(error: ErrorBody(code: "unreachable", message: "broker unreachable")))
        }
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
                let reply: Reply
                switch handler(request, decoded.header) {
                case .success(let result): reply = Reply(result: result)
                case .failure(let error): reply = Reply(error: error)
                }
                _ = try? dealer.send(WireCodec.encode(header: factory.plain(.reply, corr: decoded.header.id), body: reply))
            case .reply:
                guard let corr = decoded.header.corr, let entry = pending.removeValue(forKey: corr),
                    let reply = try? decoded.decode(Reply.self)
                else { continue }
                entry.onReply(reply)
            case .error:
                let error = (try? decoded.decode(ErrorBody.self)) ?? ErrorBody(code: "unknown", message: "error from broker")
                if let corr = decoded.header.corr, let entry = pending.removeValue(forKey: corr) {
                    entry.onReply(Reply(error: error))
                } else {
                    logger.warning("The broker reported an error.", metadata: ["error.code": "\(error.code)", "error.message": "\(error.message)"])
                }
            default:
                continue
            }
        }
    }
}
