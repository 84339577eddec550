import Foundation

/// An action a service declares; operators may run only declared actions (design §4).
public struct ActionDefinition: Codable, Sendable, Hashable {
    public var name: String
    public var label: String
    public var description: String
    public var dangerLevel: DangerLevel
    public var requiresConfirmation: Bool
    /// A JSON Schema (the subset in docs/protocol.md) the payload must satisfy.
    public var inputSchema: JSONValue?
    /// Overrides the default command TTL of 300 s.
    public var timeoutSeconds: Int?
    /// Top-level keys of the result's `data` that are shown once to the operator who ran the action
    /// (a generated key, say) and never stored in plaintext anywhere.
    public var oneTimeResultFields: [String]?

    public init(
        name: String,
        label: String? = nil,
        description: String = "",
        dangerLevel: DangerLevel = .low,
        requiresConfirmation: Bool = false,
        inputSchema: JSONValue? = nil,
        timeoutSeconds: Int? = nil,
        oneTimeResultFields: [String]? = nil
    ) {
        self.name = name
        self.label = label ?? name
        self.description = description
        self.dangerLevel = dangerLevel
        self.requiresConfirmation = requiresConfirmation
        self.inputSchema = inputSchema
        self.timeoutSeconds = timeoutSeconds
        self.oneTimeResultFields = oneTimeResultFields
    }
}
