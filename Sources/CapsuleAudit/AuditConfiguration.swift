import CapsuleDomain
import CapsuleProtocol
package import CapsuleRuntime
package import CapsuleStore
package import CapsuleZMQ
package import Foundation
import Logging

/// Everything the audit writer needs to start.
package struct AuditConfiguration: Sendable {
    package var home: CapsuleHome
    package var broker: BrokerInfo
    package var brokerKey: CurveKey
    package var keyPair: CurveKeyPair
    /// Events older than this many days are deleted (hourly); 0 keeps everything. The broker's
    /// settings override it once read.
    package var retentionDays: Int
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
        retentionDays: Int = 90,
        initializeStore: Bool = false,
        store: StoreOpener? = nil,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.retentionDays = retentionDays
        self.home = home
        self.broker = broker
        self.brokerKey = brokerKey
        self.keyPair = keyPair
        self.initializeStore = initializeStore
        self.store = store
        self.now = now
    }

    /// Backups go here and nowhere else: `<home>/backups`.
    package var backupDirectory: URL { home.url.appendingPathComponent("backups", isDirectory: true) }
}
