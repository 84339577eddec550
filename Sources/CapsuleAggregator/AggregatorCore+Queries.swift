import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

extension AggregatorCore {
    func answer(_ request: Request) -> Result<any Encodable, ErrorBody> {
        switch request.op {
        case "status.list":
            return .success(board.services.keys.sorted().compactMap(row))
        case "agents.list":
            let rows = board.agents.values.sorted { $0.code < $1.code }.map {
                AgentRow(agentId: $0.agentId, code: $0.code, status: $0.status.rawValue, reason: $0.reason,
                         lastHeartbeatAt: $0.lastHeartbeatAt, services: $0.services.sorted())
            }
            return .success(rows)
        case "service.show":
            guard let code = request.params["code"]?.stringValue, let service = board.services[code], let row = row(code) else {
                let known = board.services.keys.sorted().joined(separator: ", ")
                return .failure(ErrorBody(code: "unknown_service",
                                          message: "no service named \(request.params["code"]?.stringValue ?? "")" + (known.isEmpty ? "" : " (known: \(known))")))
            }
            return .success(ServiceDetail(status: row, manifest: service.manifest?.sanitized,
                                          healthDetails: Redactor.redact(service.health?.details)))
        case "aggregator.stats":
            return .success(JSONValue.object([
                "received": .number(Double(received)), "dropped": .number(Double(dropped)),
                "agents": .number(Double(board.agents.count)), "services": .number(Double(board.services.count)),
            ]))
        case "journal.replay":
            let after = UInt64(max(0, request.params["after"]?.intValue ?? 0))
            do {
                return .success(try store.journalEvents(after: after, limit: 1_000))
            } catch {
                return .failure(ErrorBody(code: "internal", message: "\(error)"))
            }
        case "journal.ack":
            guard request.caller == "audit" else {
                return .failure(ErrorBody(code: "forbidden", message: "only the audit writer may confirm journal entries"))
            }
            if let upTo = request.params["upTo"]?.intValue { try? store.pruneJournal(upTo: UInt64(max(0, upTo))) }
            return .success(JSONValue.object([:]))
        default:
            return .failure(ErrorBody(code: "unknown_op", message: "the aggregator has no operation \(request.op)"))
        }
    }

    private func row(_ code: String) -> ServiceStatusRow? {
        guard let service = board.services[code] else { return nil }
        let agent = board.agents[service.agentId]
        return ServiceStatusRow(
            code: code, name: service.manifest?.name, status: (service.status ?? .unknown).rawValue, reason: service.reason,
            healthStatus: service.health?.status.rawValue, healthMessage: service.health?.message, healthAt: service.healthAt,
            agentId: service.agentId, agentCode: agent?.code, agentStatus: agent?.status.rawValue,
            lastHeartbeatAt: agent?.lastHeartbeatAt, changedAt: service.changedAt
        )
    }
}
