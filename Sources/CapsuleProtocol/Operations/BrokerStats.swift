import CapsuleDomain
import Foundation

/// `broker.stats`.
package struct BrokerStats: Codable, Sendable, Hashable {
    package var forwarded: Int
    package var dropped: [String: Int]
    package var agentsConnected: Int
    package var workers: [String]
    package init(forwarded: Int, dropped: [String: Int], agentsConnected: Int, workers: [String]) {
        self.forwarded = forwarded
        self.dropped = dropped
        self.agentsConnected = agentsConnected
        self.workers = workers
    }
}
