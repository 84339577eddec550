package import CapsuleDomain
package import Foundation

/// A command as the broker stores and reports it.
package struct CommandRecord: Sendable, Hashable, Codable {
    package var id: String
    package var serviceCode: String
    package var agentId: String
    package var action: String
    /// The payload, redacted. The raw payload the agent receives is stored only sealed, until the
    /// command is terminal.
    package var payload: JSONValue
    package var status: CommandStatus
    package var actor: String
    package var createdAt: Date
    package var updatedAt: Date
    package var expiresAt: Date
    /// When the agent acknowledged it (RUNNING), and when it became terminal.
    package var startedAt: Date?
    package var completedAt: Date?
    package var success: Bool?
    package var message: String?
    /// The result's data, redacted; one-time fields read `[ONE-TIME]` here.
    package var data: JSONValue?
    package var errorCode: String?
    package var errorMessage: String?
    package var deliveries: Int
    /// The command this one retries, if any.
    package var retryOf: String?
    /// In `command.create` replies only: why it was queued instead of pushed (`agent OFFLINE`).
    package var queued: String?
    /// In replies to the operator who ran the command only, once: the action's one-time result
    /// fields (a generated key, say), which are never stored in plaintext.
    package var oneTime: JSONValue?

    /// Milliseconds from creation to completion, once terminal.
    package var durationMs: Int? {
        completedAt.map { Int(($0.timeIntervalSince(createdAt) * 1000).rounded()) }
    }

    package init(
        id: String,
        serviceCode: String,
        agentId: String,
        action: String,
        payload: JSONValue,
        status: CommandStatus,
        actor: String,
        createdAt: Date,
        updatedAt: Date,
        expiresAt: Date,
        startedAt: Date? = nil,
        completedAt: Date? = nil,
        success: Bool? = nil,
        message: String? = nil,
        data: JSONValue? = nil,
        errorCode: String? = nil,
        errorMessage: String? = nil,
        deliveries: Int = 0,
        retryOf: String? = nil
    ) {
        self.id = id
        self.serviceCode = serviceCode
        self.agentId = agentId
        self.action = action
        self.payload = payload
        self.status = status
        self.actor = actor
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.success = success
        self.message = message
        self.data = data
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.deliveries = deliveries
        self.retryOf = retryOf
    }

    private enum CodingKeys: String, CodingKey {
        case id, serviceCode, agentId, action, payload, status, actor, createdAt, updatedAt, expiresAt, startedAt,
            completedAt
        case durationMs, success, message, data, errorCode, errorMessage, deliveries, retryOf, queued, oneTime
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        serviceCode = try c.decode(String.self, forKey: .serviceCode)
        agentId = try c.decode(String.self, forKey: .agentId)
        action = try c.decode(String.self, forKey: .action)
        payload = try c.decodeIfPresent(JSONValue.self, forKey: .payload) ?? .null
        status = try c.decode(CommandStatus.self, forKey: .status)
        actor = try c.decode(String.self, forKey: .actor)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
        expiresAt = try c.decode(Date.self, forKey: .expiresAt)
        startedAt = try c.decodeIfPresent(Date.self, forKey: .startedAt)
        completedAt = try c.decodeIfPresent(Date.self, forKey: .completedAt)
        success = try c.decodeIfPresent(Bool.self, forKey: .success)
        message = try c.decodeIfPresent(String.self, forKey: .message)
        data = try c.decodeIfPresent(JSONValue.self, forKey: .data)
        errorCode = try c.decodeIfPresent(String.self, forKey: .errorCode)
        errorMessage = try c.decodeIfPresent(String.self, forKey: .errorMessage)
        deliveries = try c.decodeIfPresent(Int.self, forKey: .deliveries) ?? 0
        retryOf = try c.decodeIfPresent(String.self, forKey: .retryOf)
        queued = try c.decodeIfPresent(String.self, forKey: .queued)
        oneTime = try c.decodeIfPresent(JSONValue.self, forKey: .oneTime)
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(serviceCode, forKey: .serviceCode)
        try c.encode(agentId, forKey: .agentId)
        try c.encode(action, forKey: .action)
        try c.encode(payload, forKey: .payload)
        try c.encode(status, forKey: .status)
        try c.encode(actor, forKey: .actor)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encodeIfPresent(startedAt, forKey: .startedAt)
        try c.encodeIfPresent(completedAt, forKey: .completedAt)
        try c.encodeIfPresent(durationMs, forKey: .durationMs)
        try c.encodeIfPresent(success, forKey: .success)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encodeIfPresent(data, forKey: .data)
        try c.encodeIfPresent(errorCode, forKey: .errorCode)
        try c.encodeIfPresent(errorMessage, forKey: .errorMessage)
        try c.encode(deliveries, forKey: .deliveries)
        try c.encodeIfPresent(retryOf, forKey: .retryOf)
        try c.encodeIfPresent(queued, forKey: .queued)
        try c.encodeIfPresent(oneTime, forKey: .oneTime)
    }

    /// About how many bytes this record takes as JSON, for page budgets.
    package var estimatedSize: Int {
        360 + id.utf8.count + serviceCode.utf8.count + agentId.utf8.count + action.utf8.count + actor.utf8.count
            + payload.estimatedSize + (message?.utf8.count ?? 0) + (data?.estimatedSize ?? 0)
            + (errorMessage?.utf8.count ?? 0)
    }
}

extension CommandRecord: JSONWritable {
    /// The members `encode(to:)` writes, in its order; absent optionals are left out, as there. Every
    /// `command.create`, `command.get` and `command.wait` reply carries one.
    package func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("id", id, first: true)
        writer.field("serviceCode", serviceCode)
        writer.field("agentId", agentId)
        writer.field("action", action)
        writer.field("payload", payload)
        writer.field("status", status.rawValue)
        writer.field("actor", actor)
        writer.field("createdAt", createdAt)
        writer.field("updatedAt", updatedAt)
        writer.field("expiresAt", expiresAt)
        writer.field("startedAt", startedAt)
        writer.field("completedAt", completedAt)
        writer.field("durationMs", durationMs)
        writer.field("success", success)
        writer.field("message", message)
        writer.field("data", data)
        writer.field("errorCode", errorCode)
        writer.field("errorMessage", errorMessage)
        writer.field("deliveries", deliveries)
        writer.field("retryOf", retryOf)
        writer.field("queued", queued)
        writer.field("oneTime", oneTime)
        writer.endObject()
    }
}
