import CapsuleDomain
import CapsuleProtocol
import Foundation

@testable import CapsuleBroker

/// Fixtures for the command book: one service with one action per rule, agents in every state, a
/// fixed clock, and readers that pick effects out by kind.
enum Book {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    static let agentId = "agt_000000000001"
    static let otherAgent = "agt_000000000002"
    static let route = Data("route-1".utf8)
    static let defaultTTL: Double = 300

    static let scaleSchema: JSONValue = try! JSONValue.parse(
        #"{"type":"object","properties":{"replicas":{"type":"integer","minimum":1,"maximum":10}},"required":["replicas"]}"#
    )

    static let service = ServiceManifest(
        code: "billing",
        name: "Billing",
        version: "1.0",
        runtime: "swift",
        actions: [
            ActionDefinition(name: "flush"),
            ActionDefinition(name: "scale", inputSchema: scaleSchema),
            ActionDefinition(name: "drop-db", dangerLevel: .critical, requiresConfirmation: true),
            ActionDefinition(name: "rotate-key", oneTimeResultFields: ["apiKey", "pin"]),
            ActionDefinition(name: "quick", timeoutSeconds: 10),
        ]
    )

    static let online = AgentView(state: .active, routable: true, presence: "ONLINE")
    static let away = AgentView(state: .active, routable: false, presence: "PENDING")

    static func params(
        _ action: String,
        payload: JSONValue? = nil,
        confirm: Bool? = nil,
        requireOnline: Bool? = nil,
        service: String = "billing"
    ) -> BrokerOps.CommandCreate.Params {
        BrokerOps.CommandCreate.Params(
            service: service,
            action: action,
            payload: payload,
            confirm: confirm,
            requireOnline: requireOnline
        )
    }

    /// Creates a command or records why not; `at` is seconds after ``t0``.
    static func create(
        _ book: inout CommandBook,
        _ id: String,
        _ action: String = "flush",
        payload: JSONValue? = nil,
        confirm: Bool? = nil,
        requireOnline: Bool? = nil,
        agent: AgentView = online,
        agentId: String = agentId,
        at seconds: Double = 0,
        service: ServiceManifest? = service
    )
        -> Result<(CommandRecord, [CommandBook.Effect]), ErrorBody>
    {
        let request = CommandBook.CreateRequest(
            id: id,
            params: params(action, payload: payload, confirm: confirm, requireOnline: requireOnline),
            actor: "operator:alice",
            now: t0.addingTimeInterval(seconds),
            defaultTTL: defaultTTL
        )
        return book.create(request, service: service, agentId: service == nil ? nil : agentId, agent: agent)
    }

    /// A command that was created (it must be).
    @discardableResult
    static func created(
        _ book: inout CommandBook,
        _ id: String,
        _ action: String = "flush",
        payload: JSONValue? = nil,
        agent: AgentView = online,
        agentId: String = agentId,
        at seconds: Double = 0
    ) -> CommandRecord {
        guard
            case .success(let (record, _)) = create(
                &book,
                id,
                action,
                payload: payload,
                agent: agent,
                agentId: agentId,
                at: seconds
            )
        else {
            fatalError("fixture command \(id) was refused")
        }
        return record
    }

    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    /// A lookup that knows no stored command.
    static let nothingStored: @Sendable (String) -> CommandRecord? = { _ in nil }

    /// A terminal command as the store holds it.
    static func stored(_ id: String, _ status: CommandStatus, agentId: String = agentId) -> CommandRecord {
        CommandRecord(
            id: id,
            serviceCode: "billing",
            agentId: agentId,
            action: "flush",
            payload: .object([:]),
            status: status,
            actor: "operator:alice",
            createdAt: t0,
            updatedAt: t0,
            expiresAt: t0.addingTimeInterval(300)
        )
    }

    static func waiter(_ corr: String, after: CommandStatus? = nil, deadline seconds: Double = 60) -> CommandBook.Waiter
    {
        CommandBook.Waiter(route: route, corr: corr, after: after, deadline: at(seconds), caller: "operator:alice")
    }
}

/// A change effect, unpacked.
struct Change {
    var record: CommandRecord
    var previous: CommandBook.Live?
    var event: AuditEvent
    var oneTime: JSONValue?
}

extension Array where Element == CommandBook.Effect {
    /// Each effect's kind, in order: `create`, `change`, `journal`, `dispatch`, `cancel`, `agentError`, `reply`.
    var kinds: [String] {
        map {
            switch $0 {
            case .create: "create"
            case .change: "change"
            case .journal: "journal"
            case .dispatch: "dispatch"
            case .cancel: "cancel"
            case .agentError: "agentError"
            case .reply: "reply"
            case .agentRefusal: "refusal"
            }
        }
    }

    var creates: [(record: CommandRecord, raw: JSONValue, event: AuditEvent)] {
        compactMap { effect -> (record: CommandRecord, raw: JSONValue, event: AuditEvent)? in
            guard case .create(let record, let raw, let event) = effect else { return nil }
            return (record, raw, event)
        }
    }

    var changes: [Change] {
        compactMap { effect -> Change? in
            guard case .change(let record, let previous, let event, let oneTime) = effect else { return nil }
            return Change(record: record, previous: previous, event: event, oneTime: oneTime)
        }
    }

    var refusals: [(refusal: RefusalLedger.Refusal, agentId: String)] {
        compactMap { effect -> (refusal: RefusalLedger.Refusal, agentId: String)? in
            guard case .agentRefusal(let refusal, let agentId) = effect else { return nil }
            return (refusal, agentId)
        }
    }

    var journals: [AuditEvent] {
        compactMap { effect -> AuditEvent? in
            guard case .journal(let event) = effect else { return nil }
            return event
        }
    }

    var dispatches: [(agentId: String, body: CommandDispatch)] {
        compactMap { effect -> (agentId: String, body: CommandDispatch)? in
            guard case .dispatch(let agentId, let body) = effect else { return nil }
            return (agentId, body)
        }
    }

    var cancels: [(agentId: String, ref: CommandRef)] {
        compactMap { effect -> (agentId: String, ref: CommandRef)? in
            guard case .cancel(let agentId, let ref) = effect else { return nil }
            return (agentId, ref)
        }
    }

    var agentErrors: [(route: Data, corr: String?, error: ErrorBody)] {
        compactMap { effect -> (route: Data, corr: String?, error: ErrorBody)? in
            guard case .agentError(let route, let corr, let error) = effect else { return nil }
            return (route, corr, error)
        }
    }

    var replies: [(corr: String, record: CommandRecord)] {
        compactMap { effect -> (corr: String, record: CommandRecord)? in
            guard case .reply(_, let corr, let record, _) = effect else { return nil }
            return (corr, record)
        }
    }
}
