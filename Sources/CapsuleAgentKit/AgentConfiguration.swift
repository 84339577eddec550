import CapsuleRuntime
import Foundation
public import Logging

/// How an agent finds its broker and its own identity.
public struct AgentConfiguration: Sendable {
    /// The agent's stable code (one agent per code); its key is `keys/agent-<code>.key` in the home.
    public var agentCode: String
    /// The Capsule home (default `$CAPSULE_HOME` or `~/.capsule`).
    public var home: String?
    /// Broker router and ingest endpoints and its public key; read from the home's `broker.json` when nil.
    public var routerEndpoint: String?
    public var ingestEndpoint: String?
    public var brokerKey: String?
    /// The routers of a broker pair (`tcp://a:7403`, `tcp://b:7403`): the agent talks to the active
    /// one and moves on its own when it fails. Each broker's ingest is at its router's port − 2.
    public var brokers: [String]?
    /// A one-time registration token, needed only for the first start of a new agent.
    public var enrollmentToken: String?
    /// Heartbeat cadence until the broker says otherwise.
    public var heartbeatInterval: Duration
    /// How long one health provider may take before the service reports UNKNOWN.
    public var healthTimeout: Duration
    public var logger: Logger

    public init(
        agentCode: String,
        home: String? = nil,
        routerEndpoint: String? = nil,
        ingestEndpoint: String? = nil,
        brokerKey: String? = nil,
        brokers: [String]? = nil,
        enrollmentToken: String? = nil,
        heartbeatInterval: Duration = .seconds(30),
        healthTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "capsule.agent")
    ) {
        self.agentCode = agentCode
        self.home = home
        self.routerEndpoint = routerEndpoint
        self.ingestEndpoint = ingestEndpoint
        self.brokerKey = brokerKey
        self.brokers = brokers
        self.enrollmentToken = enrollmentToken
        self.heartbeatInterval = heartbeatInterval
        self.healthTimeout = healthTimeout
        self.logger = logger
    }
}
