import CapsuleDomain
public import Foundation

/// What an action handler returns: `{success, message?, data?, error?{code, message}}` (design §4).
public struct ActionResult: Sendable, Hashable {
    public var success: Bool
    public var message: String?
    public var data: JSONValue?
    public var errorCode: String?
    public var errorMessage: String?

    public init(
        success: Bool,
        message: String? = nil,
        data: JSONValue? = nil,
        errorCode: String? = nil,
        errorMessage: String? = nil
    ) {
        self.success = success
        self.message = message
        self.data = data
        self.errorCode = errorCode
        self.errorMessage = errorMessage
    }

    /// A successful result.
    public static func ok(_ message: String? = nil, data: JSONValue? = nil) -> ActionResult {
        ActionResult(success: true, message: message, data: data)
    }

    /// A failed result with a stable error code.
    public static func failed(code: String, message: String) -> ActionResult {
        ActionResult(success: false, message: message, errorCode: code, errorMessage: message)
    }
}

/// What a running action knows about its command.
public struct ActionContext: Sendable, Hashable {
    public var commandId: String
    public var serviceCode: String
    public var action: String
    /// The handler should give up before this; the command is EXPIRED afterwards.
    public var expiresAt: Date
}

/// One governed service: its identity, health provider, configuration and actions.
///
/// ```swift
/// let billing = CapsuleService(code: "billing-bridge", name: "Billing bridge", version: "1.4.0")
///     .health { .init(status: .up, message: "queue empty") }
///     .configs { [ConfigItem(key: "region", value: "eu-west"), ConfigItem(key: "apiKey", sensitive: true, secretRef: "vault:billing")] }
///     .action(ActionDefinition(name: "flush-cache")) { payload, context in .ok("flushed") }
/// ```
public struct CapsuleService: Sendable {
    public typealias HealthProvider = @Sendable () async throws -> HealthReport
    public typealias ConfigProvider = @Sendable () async -> [ConfigItem]
    public typealias ActionHandler = @Sendable (JSONValue, ActionContext) async throws -> ActionResult

    public let code: String
    public let name: String
    public let version: String
    public let runtime: String
    var healthProvider: HealthProvider?
    var configProvider: ConfigProvider?
    var actions: [(definition: ActionDefinition, handler: ActionHandler)] = []

    public init(code: String, name: String, version: String, runtime: String = "swift") {
        self.code = code
        self.name = name
        self.version = version
        self.runtime = runtime
    }

    /// Sets the health provider. It runs on the heartbeat cadence with a timeout; if it throws or
    /// times out, the service reports `UNKNOWN` with a message, and the heartbeat still goes out.
    public func health(_ provider: @escaping HealthProvider) -> CapsuleService {
        var copy = self
        copy.healthProvider = provider
        return copy
    }

    /// Sets the configuration provider. Mark secrets `sensitive` and give a `secretRef`; values of
    /// sensitive items are never sent.
    public func configs(_ provider: @escaping ConfigProvider) -> CapsuleService {
        var copy = self
        copy.configProvider = provider
        return copy
    }

    /// Declares an action and its handler. Only declared actions can ever be run.
    public func action(_ definition: ActionDefinition, handler: @escaping ActionHandler) -> CapsuleService {
        var copy = self
        copy.actions.removeAll { $0.definition.name == definition.name }
        copy.actions.append((definition, handler))
        return copy
    }

    func manifest() async -> ServiceManifest {
        let configs = await configProvider?() ?? []
        return ServiceManifest(
            code: code,
            name: name,
            version: version,
            runtime: runtime,
            configs: configs.map(\.sanitized),
            actions: actions.map(\.definition)
        )
    }
}
