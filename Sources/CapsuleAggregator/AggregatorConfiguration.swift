import CapsuleDomain
import CapsuleRuntime
import CapsuleZMQ
import Foundation

/// Everything an aggregator needs to start.
package struct AggregatorConfiguration: Sendable {
    package var home: CapsuleHome
    package var broker: BrokerInfo
    package var brokerKey: CurveKey
    package var keyPair: CurveKeyPair
    package var thresholds: StatusThresholds
    /// How often the rule is re-applied to everything (design §3: at most 1 s).
    package var sweepMilliseconds: Int
    package var now: @Sendable () -> Date

    package init(
        home: CapsuleHome, broker: BrokerInfo, brokerKey: CurveKey, keyPair: CurveKeyPair,
        thresholds: StatusThresholds = .standard, sweepMilliseconds: Int = 500, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.home = home
        self.broker = broker
        self.brokerKey = brokerKey
        self.keyPair = keyPair
        self.thresholds = thresholds
        self.sweepMilliseconds = sweepMilliseconds
        self.now = now
    }
}
