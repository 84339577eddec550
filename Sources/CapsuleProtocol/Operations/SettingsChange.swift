import CapsuleDomain
import Foundation

/// `settings.set`: the fields to change; absent ones keep their value.
package struct SettingsChange: Codable, Sendable, Hashable {
    package var heartbeatSeconds: Double?
    package var staleSeconds: Double?
    package var offlineSeconds: Double?
    package var commandTTLSeconds: Double?
    package var retentionDays: Int?
    package init() {}
}
