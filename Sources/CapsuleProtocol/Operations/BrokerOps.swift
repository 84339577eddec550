package import CapsuleDomain
import Foundation

/// Operations the broker answers itself (docs/protocol.md §10, service `broker`).
package enum BrokerOps {
    package static let all: [any RequestOperation.Type] = [
        CommandCreate.self, CommandGet.self, CommandWait.self, CommandList.self, CommandCancel.self, CommandRetry.self,
        JournalReplay.self, JournalAck.self, Stats.self,
        TokenCreate.self, TokenCreateBatch.self, TokenList.self, TokenRevoke.self,
        AgentList.self, AgentDisable.self, AgentEnable.self, AgentRevoke.self, AgentForget.self, ServiceForget.self,
        OperatorAdd.self, OperatorList.self, OperatorRemove.self,
        SettingsGet.self, SettingsSet.self, ClusterInfo.self, SessionWhoami.self,
    ]

    /// Params naming one record by id.
    package struct ByID: Codable, Sendable, Hashable {
        package var id: String
        package init(id: String) { self.id = id }
    }

    // MARK: Commands

    package enum CommandCreate: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var service: String
            package var action: String
            package var payload: JSONValue?
            package var confirm: Bool?
            /// Refuse (`agent_offline`) instead of queueing when the agent is not ONLINE.
            package var requireOnline: Bool?
            /// Answer once the command is terminal (at most this many seconds, then as it is), in one
            /// round trip. A command that is queued (its agent not connected) is answered at once.
            package var waitSeconds: Double?

            package init(
                service: String,
                action: String,
                payload: JSONValue? = nil,
                confirm: Bool? = nil,
                requireOnline: Bool? = nil,
                waitSeconds: Double? = nil
            ) {
                self.service = service
                self.action = action
                self.payload = payload
                self.confirm = confirm
                self.requireOnline = requireOnline
                self.waitSeconds = waitSeconds
            }
        }
        package typealias Result = CommandRecord
        package static let service = "broker"
        package static let name = "command.create"
        package static let access = Access.role(.operator)
    }

    package enum CommandGet: RequestOperation {
        package typealias Params = ByID
        package typealias Result = CommandRecord
        package static let service = "broker"
        package static let name = "command.get"
        package static let access = Access.role(.viewer)
    }

    /// Answers when the command's status is no longer `after` (by default: once it is terminal), or
    /// after `timeoutSeconds` with the record as it is then. No polling on either side.
    package enum CommandWait: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var id: String
            package var after: CommandStatus?
            package var timeoutSeconds: Double?

            package init(id: String, after: CommandStatus? = nil, timeoutSeconds: Double? = nil) {
                self.id = id
                self.after = after
                self.timeoutSeconds = timeoutSeconds
            }
        }
        package typealias Result = CommandRecord
        package static let service = "broker"
        package static let name = "command.wait"
        package static let access = Access.role(.viewer)
        /// The longest a wait may be held.
        package static let maxSeconds = 300.0
    }

    package enum CommandList: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var status: CommandStatus?
            package var service: String?
            package var agent: String?
            package var limit: Int?
            package var cursor: String?

            package init(
                status: CommandStatus? = nil,
                service: String? = nil,
                agent: String? = nil,
                limit: Int? = nil,
                cursor: String? = nil
            ) {
                self.status = status
                self.service = service
                self.agent = agent
                self.limit = limit
                self.cursor = cursor
            }
        }
        package typealias Result = Page<CommandRecord>
        package static let service = "broker"
        package static let name = "command.list"
        package static let access = Access.role(.viewer)
    }

    package enum CommandCancel: RequestOperation {
        package typealias Params = ByID
        package typealias Result = CommandRecord
        package static let service = "broker"
        package static let name = "command.cancel"
        package static let access = Access.role(.operator)
    }

    /// A new command with the same service, action and payload as an earlier one.
    package enum CommandRetry: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var id: String
            package var confirm: Bool?
            package init(id: String, confirm: Bool? = nil) {
                self.id = id
                self.confirm = confirm
            }
        }
        package typealias Result = CommandRecord
        package static let service = "broker"
        package static let name = "command.retry"
        package static let access = Access.role(.operator)
    }

    // MARK: Journal (the audit writer only)

    package enum JournalReplay: RequestOperation {
        package typealias Params = JournalReplayParams
        package typealias Result = JournalPage
        package static let service = "broker"
        package static let name = "journal.replay"
        package static let access = Access.internalOnly(["audit"])
    }

    package enum JournalAck: RequestOperation {
        package typealias Params = JournalAckParams
        package typealias Result = Empty
        package static let service = "broker"
        package static let name = "journal.ack"
        package static let access = Access.internalOnly(["audit"])
    }

    package enum Stats: RequestOperation {
        package typealias Params = NoParams
        package typealias Result = BrokerStats
        package static let service = "broker"
        package static let name = "broker.stats"
        package static let access = Access.role(.viewer)
    }

    // MARK: Tokens

    package enum TokenCreate: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var name: String
            package var expiresInSeconds: Double?
            package var agentCode: String?
            package init(name: String, expiresInSeconds: Double? = nil, agentCode: String? = nil) {
                self.name = name
                self.expiresInSeconds = expiresInSeconds
                self.agentCode = agentCode
            }
        }
        package typealias Result = TokenCreated
        package static let service = "broker"
        package static let name = "token.create"
        package static let access = Access.role(.operator)
    }

    /// Mints up to ``maxCount`` one-time tokens in one request (each hash-only and audited).
    package enum TokenCreateBatch: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            /// Token names are `<name>-<n>`, n from `firstIndex`.
            package var name: String
            package var count: Int
            package var firstIndex: Int?
            package var expiresInSeconds: Double?
            package init(name: String, count: Int, firstIndex: Int? = nil, expiresInSeconds: Double? = nil) {
                self.name = name
                self.count = count
                self.firstIndex = firstIndex
                self.expiresInSeconds = expiresInSeconds
            }
        }
        package struct Result: Codable, Sendable, Hashable {
            package var tokens: [TokenCreated]
            package init(tokens: [TokenCreated]) { self.tokens = tokens }
        }
        package static let service = "broker"
        package static let name = "token.create_batch"
        package static let access = Access.role(.operator)
        package static let maxCount = 500
    }

    package enum TokenList: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var status: TokenStatus?
            package var limit: Int?
            package var cursor: String?
            package init(status: TokenStatus? = nil, limit: Int? = nil, cursor: String? = nil) {
                self.status = status
                self.limit = limit
                self.cursor = cursor
            }
        }
        package typealias Result = Page<TokenRecord>
        package static let service = "broker"
        package static let name = "token.list"
        package static let access = Access.role(.viewer)
    }

    package enum TokenRevoke: RequestOperation {
        package typealias Params = ByID
        package typealias Result = TokenRecord
        package static let service = "broker"
        package static let name = "token.revoke"
        package static let access = Access.role(.operator)
    }

    // MARK: Agents and services

    package enum AgentList: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            /// Only agents whose key is in one of these states.
            package var states: [KeyState]?
            package var limit: Int?
            package var cursor: String?
            package init(states: [KeyState]? = nil, limit: Int? = nil, cursor: String? = nil) {
                self.states = states
                self.limit = limit
                self.cursor = cursor
            }
        }
        package typealias Result = Page<AgentRecord>
        package static let service = "broker"
        package static let name = "agent.list"
        package static let access = Access.role(.viewer)
    }

    package enum AgentDisable: RequestOperation {
        package typealias Params = ByID
        package typealias Result = AgentRecord
        package static let service = "broker"
        package static let name = "agent.disable"
        package static let access = Access.role(.operator)
    }

    package enum AgentEnable: RequestOperation {
        package typealias Params = ByID
        package typealias Result = AgentRecord
        package static let service = "broker"
        package static let name = "agent.enable"
        package static let access = Access.role(.operator)
    }

    package enum AgentRevoke: RequestOperation {
        package typealias Params = ByID
        package typealias Result = AgentRecord
        package static let service = "broker"
        package static let name = "agent.revoke"
        package static let access = Access.role(.operator)
    }

    /// Decommissions a revoked agent: its record, its services and their status go.
    package enum AgentForget: RequestOperation {
        package typealias Params = ByID
        package typealias Result = Empty
        package static let service = "broker"
        package static let name = "agent.forget"
        package static let access = Access.role(.operator)
    }

    /// Decommissions one service code: the broker and the aggregator forget it.
    package enum ServiceForget: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var code: String
            package init(code: String) { self.code = code }
        }
        package typealias Result = Empty
        package static let service = "broker"
        package static let name = "service.forget"
        package static let access = Access.role(.operator)
    }

    // MARK: Operators

    package enum OperatorAdd: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var name: String
            package var role: OperatorRole
            package var publicKey: String
            package init(name: String, role: OperatorRole, publicKey: String) {
                self.name = name
                self.role = role
                self.publicKey = publicKey
            }
        }
        package typealias Result = OperatorRecord
        package static let service = "broker"
        package static let name = "operator.add"
        package static let access = Access.role(.owner)
    }

    package enum OperatorList: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var limit: Int?
            package var cursor: String?
            package init(limit: Int? = nil, cursor: String? = nil) {
                self.limit = limit
                self.cursor = cursor
            }
        }
        package typealias Result = Page<OperatorRecord>
        package static let service = "broker"
        package static let name = "operator.list"
        package static let access = Access.role(.viewer)
    }

    package enum OperatorRemove: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            package var name: String
            package init(name: String) { self.name = name }
        }
        package typealias Result = OperatorRecord
        package static let service = "broker"
        package static let name = "operator.remove"
        package static let access = Access.role(.owner)
    }

    // MARK: Settings and cluster

    package enum SettingsGet: RequestOperation {
        package typealias Params = NoParams
        package typealias Result = Settings
        package static let service = "broker"
        package static let name = "settings.get"
        package static let access = Access.role(.viewer)
    }

    package enum SettingsSet: RequestOperation {
        package typealias Params = SettingsChange
        package typealias Result = Settings
        package static let service = "broker"
        package static let name = "settings.set"
        package static let access = Access.role(.owner)
    }

    package enum ClusterInfo: RequestOperation {
        package typealias Params = NoParams
        package typealias Result = CapsuleProtocol.ClusterInfo
        package static let service = "broker"
        package static let name = "cluster.info"
        package static let access = Access.role(.viewer)
    }

    /// Who the calling key is, as the broker knows it: what a client (the web console) needs to
    /// show only what this key's role allows. It decides nothing: every request is still checked.
    package enum SessionWhoami: RequestOperation {
        package typealias Params = NoParams
        package struct Result: Codable, Sendable, Hashable {
            /// The operator's name, or the internal service's.
            package var name: String
            package var role: OperatorRole
            package init(name: String, role: OperatorRole) {
                self.name = name
                self.role = role
            }
        }
        package static let service = "broker"
        package static let name = "session.whoami"
        package static let access = Access.role(.viewer)
    }
}

extension BrokerOps.CommandCreate.Params: JSONValueDecodable {
    /// The params from their fields, read as `init(from:)` reads them: every action starts here.
    package init(fields json: some JSONFields) throws(JSONFieldError) {
        service = try json.string("service")
        action = try json.string("action")
        payload = json.member("payload")
        confirm = try json.optionalBool("confirm")
        requireOnline = try json.optionalBool("requireOnline")
        waitSeconds = try json.optionalNumber("waitSeconds")
    }
}
