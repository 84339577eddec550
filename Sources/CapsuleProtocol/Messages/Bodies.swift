import CapsuleDomain
import Foundation

/// One service's health inside a heartbeat or health message.
package struct ServiceHealth: Codable, Sendable, Hashable {
    package var code: String
    package var health: HealthReport
    /// When the agent sampled it (epoch ms at the agent).
    package var sampledAt: Date

    package init(code: String, health: HealthReport, sampledAt: Date) {
        self.code = code
        self.health = health
        self.sampledAt = sampledAt
    }
}

/// `heartbeat`: sent by every agent on its cadence; carries the full current health.
package struct Heartbeat: Codable, Sendable, Hashable {
    package var agentId: String
    package var agentCode: String
    package var manifestDigest: String
    package var intervalSeconds: Double
    package var services: [ServiceHealth]
    /// Heartbeats the agent discarded instead of sending late (counted since it started).
    package var droppedStale: Int

    package init(agentId: String, agentCode: String, manifestDigest: String, intervalSeconds: Double, services: [ServiceHealth], droppedStale: Int = 0) {
        self.agentId = agentId
        self.agentCode = agentCode
        self.manifestDigest = manifestDigest
        self.intervalSeconds = intervalSeconds
        self.services = services
        self.droppedStale = droppedStale
    }
}

/// `health`: an out-of-cadence health change for some of an agent's services.
package struct HealthUpdate: Codable, Sendable, Hashable {
    package var agentId: String
    package var services: [ServiceHealth]

    package init(agentId: String, services: [ServiceHealth]) {
        self.agentId = agentId
        self.services = services
    }
}

/// `service.report`: the manifests of every service behind an agent, with their digest.
package struct ServiceReport: Codable, Sendable, Hashable {
    package var agentId: String
    package var agentCode: String
    package var digest: String
    package var services: [ServiceManifest]

    package init(agentId: String, agentCode: String, services: [ServiceManifest]) {
        self.agentId = agentId
        self.agentCode = agentCode
        self.services = services
        self.digest = ManifestDigest.of(services)
    }
}

/// `beacon`: a publisher's latest event sequence number, so a subscriber can see a gap at the tail.
package struct Beacon: Codable, Sendable, Hashable {
    package var publisher: String
    /// The publisher's journal incarnation (absent from publishers older than incarnations).
    package var incarnation: String?
    package var lastSeq: UInt64

    package init(publisher: String, incarnation: String? = nil, lastSeq: UInt64) {
        self.publisher = publisher
        self.incarnation = incarnation
        self.lastSeq = lastSeq
    }
}

/// `agent.hello`: the first message on an agent's DEALER, and again after every reconnect.
package struct AgentHello: Codable, Sendable, Hashable {
    package var agentCode: String
    package var services: [String]
    package var manifestDigest: String
    package var software: String
    /// A one-time registration token, needed only when the key is not yet enrolled.
    package var enrollmentToken: String?

    package init(agentCode: String, services: [String], manifestDigest: String, software: String, enrollmentToken: String? = nil) {
        self.agentCode = agentCode
        self.services = services
        self.manifestDigest = manifestDigest
        self.software = software
        self.enrollmentToken = enrollmentToken
    }
}

/// `agent.welcome`: the broker's answer to a hello.
package struct AgentWelcome: Codable, Sendable, Hashable {
    package var agentId: String
    package var heartbeatSeconds: Double

    package init(agentId: String, heartbeatSeconds: Double) {
        self.agentId = agentId
        self.heartbeatSeconds = heartbeatSeconds
    }
}

/// `command.dispatch`: the broker pushes a command to the agent that owns the service.
package struct CommandDispatch: Codable, Sendable, Hashable {
    package var commandId: String
    package var serviceCode: String
    package var action: String
    package var payload: JSONValue
    package var expiresAt: Date

    package init(commandId: String, serviceCode: String, action: String, payload: JSONValue, expiresAt: Date) {
        self.commandId = commandId
        self.serviceCode = serviceCode
        self.action = action
        self.payload = payload
        self.expiresAt = expiresAt
    }
}

/// `command.ack`: the agent started the command. `command.cancel` uses the same shape plus a reason.
package struct CommandRef: Codable, Sendable, Hashable {
    package var commandId: String
    package var reason: String?

    package init(commandId: String, reason: String? = nil) {
        self.commandId = commandId
        self.reason = reason
    }
}

/// `command.result`: what the handler returned.
package struct CommandResult: Codable, Sendable, Hashable {
    package var commandId: String
    package var success: Bool
    package var message: String?
    package var data: JSONValue?
    package var error: ErrorBody?

    package init(commandId: String, success: Bool, message: String? = nil, data: JSONValue? = nil, error: ErrorBody? = nil) {
        self.commandId = commandId
        self.success = success
        self.message = message
        self.data = data
        self.error = error
    }
}

/// `report.request`: someone (the aggregator) wants the agent to publish its `service.report` again.
package struct ReportRequest: Codable, Sendable, Hashable {
    package var agentId: String
    package var reason: String

    package init(agentId: String, reason: String) {
        self.agentId = agentId
        self.reason = reason
    }
}

/// `worker.ready`: an internal service offers to answer requests for `service`.
package struct WorkerReady: Codable, Sendable, Hashable {
    package var service: String
    /// The worker's software version, start time, and its journal's position (for `cluster.info`).
    package var version: String?
    package var startedAt: Date?
    package var journalLastSeq: UInt64?
    package var journalIncarnation: String?
    /// The build's git commit and the worker's store schema version (for `cluster.info`).
    package var commit: String?
    package var schemaVersion: String?

    package init(service: String, version: String? = nil, startedAt: Date? = nil, journalLastSeq: UInt64? = nil,
                 journalIncarnation: String? = nil, commit: String? = CapsuleVersion.commit, schemaVersion: String? = nil) {
        self.service = service
        self.version = version
        self.startedAt = startedAt
        self.journalLastSeq = journalLastSeq
        self.journalIncarnation = journalIncarnation
        self.commit = commit
        self.schemaVersion = schemaVersion
    }
}

/// `request`: an operation on a named service (`broker`, `aggregator`, `audit`), Majordomo-style.
package struct Request: Codable, Sendable, Hashable {
    package var service: String
    package var op: String
    package var params: JSONValue
    /// Set by the broker when it forwards a request: who asked (`operator:NAME`, or a service name).
    package var caller: String?

    package init(service: String, op: String, params: JSONValue = .object([:]), caller: String? = nil) {
        self.service = service
        self.op = op
        self.params = params
        self.caller = caller
    }
}

/// `reply`: the answer to a request. Exactly one of `result` and `error` is set.
package struct Reply: Codable, Sendable, Hashable {
    package var ok: Bool
    package var result: JSONValue?
    package var error: ErrorBody?

    package init(result: JSONValue) {
        self.ok = true
        self.result = result
    }

    package init(error: ErrorBody) {
        self.ok = false
        self.error = error
    }
}
