package import CapsuleDomain
import Foundation

/// Operations the aggregator answers (docs/protocol.md §10, service `aggregator`).
package enum AggregatorOps {
    package static let all: [any RequestOperation.Type] = [
        StatusList.self, StatusSummaryOp.self, AgentsList.self, ServiceShow.self, Stats.self, JournalReplay.self,
        JournalAck.self,
    ]

    package enum StatusList: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var status: EffectiveStatus?
            /// An agentId or an agent code.
            package var agent: String?
            /// Only service codes starting with this.
            package var prefix: String?
            package var limit: Int?
            package var cursor: String?
            package init(
                status: EffectiveStatus? = nil,
                agent: String? = nil,
                prefix: String? = nil,
                limit: Int? = nil,
                cursor: String? = nil
            ) {
                self.status = status
                self.agent = agent
                self.prefix = prefix
                self.limit = limit
                self.cursor = cursor
            }

            /// The filters, for binding cursors to them.
            package var query: String { "\(status?.rawValue ?? "")|\(agent ?? "")|\(prefix ?? "")" }
        }
        package typealias Result = Page<ServiceStatusRow>
        package static let service = "aggregator"
        package static let name = "status.list"
        package static let access = Access.role(.viewer)
    }

    package enum StatusSummaryOp: RequestOperation {
        package typealias Params = NoParams
        package typealias Result = StatusSummary
        package static let service = "aggregator"
        package static let name = "status.summary"
        package static let access = Access.role(.viewer)
    }

    package enum AgentsList: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var status: AgentStatus?
            package var limit: Int?
            package var cursor: String?
            package init(status: AgentStatus? = nil, limit: Int? = nil, cursor: String? = nil) {
                self.status = status
                self.limit = limit
                self.cursor = cursor
            }
        }
        package typealias Result = Page<AgentRow>
        package static let service = "aggregator"
        package static let name = "agents.list"
        package static let access = Access.role(.viewer)
    }

    package enum ServiceShow: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var code: String
            package init(code: String) { self.code = code }
        }
        package typealias Result = ServiceDetail
        package static let service = "aggregator"
        package static let name = "service.show"
        package static let access = Access.role(.viewer)
    }

    package enum Stats: RequestOperation {
        package typealias Params = NoParams
        package typealias Result = AggregatorStats
        package static let service = "aggregator"
        package static let name = "aggregator.stats"
        package static let access = Access.role(.viewer)
    }

    package enum JournalReplay: RequestOperation {
        package typealias Params = JournalReplayParams
        package typealias Result = JournalPage
        package static let service = "aggregator"
        package static let name = "journal.replay"
        package static let access = Access.internalOnly(["audit"])
    }

    package enum JournalAck: RequestOperation {
        package typealias Params = JournalAckParams
        package typealias Result = Empty
        package static let service = "aggregator"
        package static let name = "journal.ack"
        package static let access = Access.internalOnly(["audit"])
    }
}

/// `aggregator.stats`.
package struct AggregatorStats: Codable, Sendable, Hashable {
    package var received: Int
    package var dropped: Int
    package var agents: Int
    package var services: Int
    /// Heartbeat samples for services the agent never declared, ignored.
    package var undeclared: Int
    package init(received: Int, dropped: Int, agents: Int, services: Int, undeclared: Int) {
        self.received = received
        self.dropped = dropped
        self.agents = agents
        self.services = services
        self.undeclared = undeclared
    }
}
