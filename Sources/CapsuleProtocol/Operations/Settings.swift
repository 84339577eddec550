import CapsuleDomain
import Foundation

/// Thresholds and retention, stored once by the broker and read by the aggregator and the audit
/// writer (docs/decisions.md, "Settings live in the broker").
package struct Settings: Codable, Sendable, Hashable {
    package var heartbeatSeconds: Double
    package var staleSeconds: Double
    package var offlineSeconds: Double
    package var commandTTLSeconds: Double
    package var retentionDays: Int
    /// Bumped on every change, so readers know when to apply.
    package var version: Int

    package init(
        heartbeatSeconds: Double,
        staleSeconds: Double,
        offlineSeconds: Double,
        commandTTLSeconds: Double,
        retentionDays: Int,
        version: Int
    ) {
        self.heartbeatSeconds = heartbeatSeconds
        self.staleSeconds = staleSeconds
        self.offlineSeconds = offlineSeconds
        self.commandTTLSeconds = commandTTLSeconds
        self.retentionDays = retentionDays
        self.version = version
    }
}
