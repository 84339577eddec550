import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import Foundation
import Logging

/// Who asked, and where the answer goes.
struct RequestContext {
    let principal: Principal
    let route: Data
    let corr: String
}

/// Answers one request, now or later (after the turn's writes commit, or when a wait ends).
struct Responder<Result: Encodable> {
    unowned let core: BrokerCore
    let route: Data
    let corr: String

    func succeed(_ result: Result) { core.sendReply(to: route, corr: corr, result: result) }
    func fail(_ error: ErrorBody) { core.sendReply(to: route, corr: corr, error: error) }
    /// Succeeds with the result already encoded as JSON.
    func succeed(encoded json: Data) {
        core.sendRaw(
            to: route,
            header: core.factory.plain(.reply, corr: corr),
            body: TypedReply<Result>.body(encodedResult: json)
        )
    }

    func callAsFunction(_ outcome: Swift.Result<Result, ErrorBody>) {
        switch outcome {
        case .success(let result): succeed(result)
        case .failure(let error): fail(error)
        }
    }
}

/// One entry of the broker's request table: decodes the operation's typed params and runs it.
struct OperationHandler {
    let run: (BrokerCore, WireMessage, RequestContext) -> Void
}

extension BrokerCore {
    /// Registers the handler of one broker operation. `body` answers through the responder, at
    /// once or later; an ``ErrorBody`` or ``StoreError`` it throws is the reply.
    func on<Op: RequestOperation>(
        _ op: Op.Type,
        _ body: @escaping (BrokerCore, Op.Params, RequestContext, Responder<Op.Result>) throws -> Void
    ) {
        precondition(Op.service == "broker", "\(Op.name) is not a broker operation")
        operations[Op.name] = OperationHandler { core, message, context in
            let respond = Responder<Op.Result>(core: core, route: context.route, corr: context.corr)
            let request: OperationRequest<Op.Params>
            do throws(WireError) {
                request = try message.decode(OperationRequest<Op.Params>.self)
            } catch {
                respond.fail(ErrorBody(.badRequest, "\(Op.name) params: \(error.detail)"))
                return
            }
            do {
                try body(core, request.params, context, respond)
            } catch let error as ErrorBody {
                respond.fail(error)
            } catch let error as StoreError {
                respond.fail(error.body)
            } catch {
                core.storeFailed(error, what: Op.name)
                respond.fail(ErrorBody(.internal, "\(Op.name) failed: the broker could not complete it"))
            }
        }
    }

    /// Runs a broker operation (the caller's access was checked by ``OperationPolicy``).
    func answer(_ op: String, _ message: WireMessage, principal: Principal, route: Data) {
        guard let handler = operations[op] else {
            sendReply(
                to: route,
                corr: message.header.id,
                error: ErrorBody(.unknownOp, "the broker has no operation \(SafeText.quoted(op, limit: 64))")
            )
            return
        }
        handler.run(self, message, RequestContext(principal: principal, route: route, corr: message.header.id))
    }

    /// Adds a write to this turn's batch and answers once it is committed: `work` returns the result
    /// or a refusal, and the events to journal with it (published after the commit).
    func write<Result>(
        _ respond: Responder<Result>,
        _ work: @escaping (any SQLConnection) throws -> Swift.Result<(Result, [AuditEvent]), StoreError>,
        then: ((Result) -> Void)? = nil
    ) {
        let journal = self.journal
        batch.add(
            { db -> Swift.Result<(Result, [AuditEvent]), StoreError> in
                switch try work(db) {
                case .success(let (result, events)):
                    return .success((result, try events.map { try journal.append(db, $0) }))
                case .failure(let refusal): return .failure(refusal)
                }
            },
            done: { [unowned self] outcome in
                switch outcome {
                case .success(.success(let (result, events))):
                    events.forEach(publish)
                    then?(result)
                    respond.succeed(result)
                case .success(.failure(let refusal)):
                    respond.fail(refusal.body)
                case .failure(let error):
                    storeFailed(error, what: "write")
                    respond.fail(
                        ErrorBody(.unavailable, "the broker's store could not be written (\(error)); nothing changed")
                    )
                }
            }
        )
    }

    func registerOperations() {
        registerCommandOperations()
        registerTrustOperations()
        registerAdminOperations()
    }
}
