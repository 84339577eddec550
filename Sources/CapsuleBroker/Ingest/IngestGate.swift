import CapsuleDomain
package import CapsuleProtocol
package import CapsuleStore
package import Foundation

/// The broker's checks on one ingest message as a pure function: frames and the principal whose key
/// they arrived on go in, a verdict comes out, and ``BrokerCore`` carries it out. Fuzzed by
/// `capsule-fuzz` (docs/security.md).
///
/// One pass, and the body is left alone where a cheaper proof holds: the header's `sender` must be
/// the key's identity and the topic must be the one that identity may publish on, so a heartbeat or
/// health update is forwarded without decoding its body (the aggregator checks the body's `agentId`
/// against the header and keeps only declared services). A service report, rare and the one message
/// that claims services, is decoded and checked in full.
package enum IngestGate {
    package enum Verdict: Equatable {
        /// Forward the frames unchanged; a service report must still be claimed in the store first.
        case forward(MessageType, report: ServiceReport?)
        case drop(reason: String, detail: String)
        /// The message claims another identity than its key.
        case identityMismatch(claimed: String, type: MessageType)
        /// A service report the broker refuses whole (too many services, a bad identifier).
        case refuseReport(code: ErrorBody.Code, reason: String)
    }

    package static var maxServicesPerAgent: Int { Limits.maxServicesPerAgent }
    package static var maxActionsPerService: Int { Limits.maxActionsPerService }

    private static let agentTypes: Set<MessageType> = [.heartbeat, .health, .serviceReport]
    private static let serviceTypes: Set<MessageType> = [.event, .beacon]

    package static func check(frames: [Data], principal: Principal) -> Verdict {
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
        let allowed: Set<MessageType> =
            switch principal.kind {
            case .agent: agentTypes
            case .service: serviceTypes
            case .operator: []  // operators publish nothing on ingest (docs/protocol.md §5)
            }
        guard allowed.contains(type) else {
            return .drop(reason: "not_allowed", detail: "\(type.rawValue) on ingest from a \(principal.kind.rawValue)")
        }
        let topicOK: Bool
        if type == .event {
            topicOK = decoded.topic?.hasPrefix(Topic.eventPrefix) == true
        } else {
            topicOK = decoded.topic == Topic.expected(for: type, sender: principal.sender)
        }
        guard topicOK else {
            return .drop(
                reason: "topic_mismatch",
                detail: "topic \(SafeText.clean(decoded.topic ?? "", limit: 64)) for \(type.rawValue)"
            )
        }
        guard type == .serviceReport else { return .forward(type, report: nil) }
        let report: ServiceReport
        do {
            report = try decoded.decode(ServiceReport.self)
        } catch {
            return .drop(reason: error.code.rawValue, detail: error.detail)
        }
        guard report.agentId == principal.identity else {
            return .identityMismatch(claimed: report.agentId, type: type)
        }
        if let refusal = refusal(of: report) { return refusal }
        return .forward(type, report: report)
    }

    /// Why a report is refused, if it is: more services or actions than the caps, or a service code
    /// or action name that is not an identifier.
    static func refusal(of report: ServiceReport) -> Verdict? {
        guard report.services.count <= maxServicesPerAgent else {
            return .refuseReport(
                code: .tooManyServices,
                reason:
                    "report declares \(report.services.count) services; an agent may declare at most \(maxServicesPerAgent)"
            )
        }
        var seen = Set<String>()
        for manifest in report.services {
            guard Identifier.isValid(manifest.code) else {
                return .refuseReport(
                    code: .invalidIdentifier,
                    reason: IdentifierError(what: "service code", value: manifest.code).description
                )
            }
            guard seen.insert(manifest.code).inserted else {
                return .refuseReport(
                    code: .invalidIdentifier,
                    reason: "service code \(manifest.code) is declared twice"
                )
            }
            guard manifest.actions.count <= maxActionsPerService else {
                return .refuseReport(
                    code: .tooManyServices,
                    reason:
                        "service \(manifest.code) declares \(manifest.actions.count) actions; at most \(maxActionsPerService)"
                )
            }
            for action in manifest.actions where !Identifier.isValid(action.name) {
                return .refuseReport(
                    code: .invalidIdentifier,
                    reason: IdentifierError(what: "action name", value: action.name).description
                )
            }
        }
        return nil
    }
}
