import Foundation

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
