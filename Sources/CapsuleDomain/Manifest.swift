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

/// One configuration item a service reports. Sensitive items never carry a value, only a `secretRef`.
public struct ConfigItem: Codable, Sendable, Hashable {
    public var key: String
    public var value: JSONValue?
    public var sensitive: Bool
    public var secretRef: String?

    public init(key: String, value: JSONValue? = nil, sensitive: Bool = false, secretRef: String? = nil) {
        self.key = key
        self.sensitive = sensitive
        self.value = sensitive ? nil : value
        self.secretRef = secretRef
    }

    /// The item as it may be stored or shown: a sensitive item loses any value it carried.
    public var sanitized: ConfigItem {
        var copy = self
        if sensitive { copy.value = nil }
        if let value = copy.value { copy.value = Redactor.redact(value, key: key) }
        return copy
    }
}

/// What a service declares about itself: identity, configuration and actions.
public struct ServiceManifest: Codable, Sendable, Hashable {
    public var code: String
    public var name: String
    public var version: String
    public var runtime: String
    public var configs: [ConfigItem]
    public var actions: [ActionDefinition]

    public init(
        code: String,
        name: String,
        version: String,
        runtime: String,
        configs: [ConfigItem] = [],
        actions: [ActionDefinition] = []
    ) {
        self.code = code
        self.name = name
        self.version = version
        self.runtime = runtime
        self.configs = configs
        self.actions = actions
    }

    /// The manifest with sensitive values removed and secret-looking keys redacted.
    public var sanitized: ServiceManifest {
        var copy = self
        copy.configs = configs.map(\.sanitized)
        return copy
    }

    public func action(named name: String) -> ActionDefinition? {
        actions.first { $0.name == name }
    }
}

/// A service's latest health sample.
public struct HealthReport: Codable, Sendable, Hashable {
    public var status: HealthStatus
    public var message: String?
    public var details: JSONValue?

    public init(status: HealthStatus, message: String? = nil, details: JSONValue? = nil) {
        self.status = status
        self.message = message
        self.details = details
    }
}

/// A stable digest of a set of manifests, carried in every heartbeat so a lost report is noticed.
/// FNV-1a 64 over the canonical JSON: it detects change, it is not a security hash.
public enum ManifestDigest {
    public static func of(_ manifests: [ServiceManifest]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(manifests.sorted { $0.code < $1.code })) ?? Data()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
