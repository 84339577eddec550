import Foundation

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
