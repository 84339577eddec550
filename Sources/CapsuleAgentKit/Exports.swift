// The SDK's vocabulary (HealthReport, HealthStatus, ConfigItem, ActionDefinition, DangerLevel, JSONValue)
// lives in CapsuleDomain; re-export it so `import CapsuleAgentKit` is all a service needs.
@_exported import CapsuleDomain
