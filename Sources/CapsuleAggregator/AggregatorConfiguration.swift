package import CapsuleDomain
package import CapsuleRuntime
package import CapsuleStore
package import CapsuleZMQ
package import Foundation

/// Everything an aggregator needs to start.
package struct AggregatorConfiguration: Sendable {
    package var home: CapsuleHome
    package var broker: BrokerInfo
    package var brokerKey: CurveKey
    package var keyPair: CurveKeyPair
    /// Thresholds until the broker's settings are read (and when they cannot be).
    package var thresholds: StatusThresholds
    /// How often the rule is re-applied to agents whose deadline has come (design §3: at most 1 s).
    package var sweepMilliseconds: Int
    /// Heartbeat times and health are written at most this often; transitions are written at once.
    package var persistSeconds: Double
    /// Start with a new, empty store when the existing one is empty or unreadable (`--init-store`).
    package var initializeStore: Bool
    /// Where the store is (`--store`); nil for the SQLite file in the home.
    package var store: StoreOpener?
    package var now: @Sendable () -> Date

    package init(
        home: CapsuleHome,
        broker: BrokerInfo,
        brokerKey: CurveKey,
        keyPair: CurveKeyPair,
        thresholds: StatusThresholds = .standard,
        sweepMilliseconds: Int = 500,
        persistSeconds: Double = 10,
        initializeStore: Bool = false,
        store: StoreOpener? = nil,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.home = home
        self.broker = broker
        self.brokerKey = brokerKey
        self.keyPair = keyPair
        self.thresholds = thresholds
        self.sweepMilliseconds = sweepMilliseconds
        self.persistSeconds = persistSeconds
        self.initializeStore = initializeStore
        self.store = store
        self.now = now
    }
}
