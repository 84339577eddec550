/// The heartbeat cadence and the silences after which a service turns STALE or OFFLINE (design §3).
package struct StatusThresholds: Codable, Sendable, Hashable {
    package var heartbeatSeconds: Double
    package var staleSeconds: Double
    package var offlineSeconds: Double

    package init(heartbeatSeconds: Double = 30, staleSeconds: Double = 60, offlineSeconds: Double = 90) {
        self.heartbeatSeconds = heartbeatSeconds
        self.staleSeconds = staleSeconds
        self.offlineSeconds = offlineSeconds
    }

    package static let standard = StatusThresholds()
}
