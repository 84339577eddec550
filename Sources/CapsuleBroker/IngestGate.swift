import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation

/// The broker's checks on one ingest message as a pure function: frames and the principal whose key
/// they arrived on go in, a verdict comes out, and ``BrokerCore`` carries it out. Fuzzed by
/// `capsule-fuzz` (docs/security.md).
package enum IngestGate {
    package enum Verdict: Equatable {
        /// Forward the frames unchanged; a service report must still be claimed in the store first.
        case forward(MessageType, report: ServiceReport?)
        case drop(reason: String, detail: String)
        /// The message claims another identity than its key.
        case identityMismatch(claimed: String, type: MessageType)
        /// The message names a service another agent owns.
        case serviceOwned(code: String, owner: String)
    }

    private static let agentTypes: Set<MessageType> = [.heartbeat, .health, .serviceReport]
    private static let serviceTypes: Set<MessageType> = [.event, .beacon]

    /// - Parameter owner: the agentId that owns a service code, as the broker knows it.
    package static func check(frames: [Data], principal: Principal, owner: (String) -> String?) -> Verdict {
        let decoded: WireMessage
        do {
            decoded = try WireCodec.decode(frames, hasTopic: true)
        } catch {
            return .drop(reason: error.code.rawValue, detail: error.detail)
        }
        let type = decoded.header.type
        guard decoded.header.sender == principal.sender else {
            return .identityMismatch(claimed: decoded.header.sender, type: type)
        }
        guard (principal.kind == .agent ? agentTypes : serviceTypes).contains(type) else {
            return .drop(reason: "not_allowed", detail: "\(type.rawValue) on ingest from a \(principal.kind.rawValue)")
        }
        func owned(_ codes: [String]) -> Verdict? {
            for code in codes {
                if let owner = owner(code), owner != principal.identity { return .serviceOwned(code: code, owner: owner) }
            }
            return nil
        }
        var action: String?
        var report: ServiceReport?
        do {
            switch type {
            case .heartbeat:
                let body = try decoded.decode(Heartbeat.self)
                guard body.agentId == principal.identity else { return .identityMismatch(claimed: body.agentId, type: type) }
                if let verdict = owned(body.services.map(\.code)) { return verdict }
            case .health:
                let body = try decoded.decode(HealthUpdate.self)
                guard body.agentId == principal.identity else { return .identityMismatch(claimed: body.agentId, type: type) }
                if let verdict = owned(body.services.map(\.code)) { return verdict }
            case .serviceReport:
                let body = try decoded.decode(ServiceReport.self)
                guard body.agentId == principal.identity else { return .identityMismatch(claimed: body.agentId, type: type) }
                if let verdict = owned(body.services.map(\.code)) { return verdict }
                report = body
            case .event:
                let event = try decoded.decode(AuditEvent.self)
                guard event.publisher == principal.identity else { return .identityMismatch(claimed: event.publisher, type: type) }
                action = event.action
            case .beacon:
                let beacon = try decoded.decode(Beacon.self)
                guard beacon.publisher == principal.identity else { return .identityMismatch(claimed: beacon.publisher, type: type) }
            default:
                break
            }
        } catch {
            return .drop(reason: error.code.rawValue, detail: error.detail)
        }
        let expected = Topic.expected(for: type, sender: principal.sender, action: action)
        guard decoded.topic == expected else {
            return .drop(reason: "topic_mismatch", detail: "topic \(decoded.topic ?? "") for \(type.rawValue)")
        }
        return .forward(type, report: report)
    }
}
