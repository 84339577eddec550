import CapsuleDomain
package import Foundation

/// `cluster.info`: the broker, and the internal services connected to it.
package struct ClusterInfo: Codable, Sendable, Hashable {
    package struct Component: Codable, Sendable, Hashable {
        package var name: String
        package var connected: Bool
        package var version: String?
        package var startedAt: Date?
        package var lastSeenAt: Date?
        /// For publishers: how far the audit writer's cursor is behind their journal.
        package var lag: Int?
        /// The build's git commit, and its store's schema version (absent from older builds).
        package var commit: String?
        package var schemaVersion: String?
        package var protocolVersion: Int?
        package init(
            name: String,
            connected: Bool,
            version: String? = nil,
            startedAt: Date? = nil,
            lastSeenAt: Date? = nil,
            lag: Int? = nil,
            commit: String? = nil,
            schemaVersion: String? = nil,
            protocolVersion: Int? = nil
        ) {
            self.name = name
            self.connected = connected
            self.version = version
            self.startedAt = startedAt
            self.lastSeenAt = lastSeenAt
            self.lag = lag
            self.commit = commit
            self.schemaVersion = schemaVersion
            self.protocolVersion = protocolVersion
        }
    }
    package var components: [Component]
    package var protocolVersion: Int
    /// Who asked (`operator:alice`) and with which role, as the broker sees the key.
    package var caller: String?
    package var role: String?
    package init(components: [Component], protocolVersion: Int, caller: String? = nil, role: String? = nil) {
        self.components = components
        self.protocolVersion = protocolVersion
        self.caller = caller
        self.role = role
    }
}
