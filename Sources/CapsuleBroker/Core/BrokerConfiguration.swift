package import CapsuleDomain
package import CapsuleRuntime
package import CapsuleStore
package import CapsuleZMQ
package import Foundation

/// Everything a broker needs to start.
package struct BrokerConfiguration: Sendable {
    package var home: CapsuleHome
    /// Where to bind: agents' PUB sockets connect to `ingest`, internal subscribers to `bus`,
    /// everyone's DEALER to `router`.
    package var ingestBind: String
    package var busBind: String
    package var routerBind: String
    /// The endpoints written to `broker.json` for clients sharing the home (bind addresses with
    /// `*` or `0.0.0.0` replaced by `advertiseHost`).
    package var advertiseHost: String
    package var thresholds: StatusThresholds
    /// Default command time to live (design §4: 300 s); an action's `timeoutSeconds` overrides it.
    package var commandTTLSeconds: Double
    /// Largest message accepted on any endpoint; larger ones are dropped and counted.
    package var maxMessageBytes: Int
    /// Messages per second one peer may send (ingest and router together), and the burst above it.
    package var maxMessagesPerSecond: Double
    package var burstMessages: Double
    /// How long a request routed to an internal service may wait for its reply.
    package var requestTimeoutSeconds: Double
    /// Public keys of internal services running elsewhere, by service name (`aggregator`, `audit`).
    package var trustedServiceKeys: [String: CurveKey]
    /// Audit retention written to the settings at the first start (later changed with `settings set`).
    package var retentionDays: Int
    /// libzmq I/O threads (each holds a share of the connections and their timers).
    package var ioThreads: Int32
    /// Start with a new, empty store when the existing one is empty or unreadable (`--init-store`).
    package var initializeStore: Bool
    /// Where the store is (`--store`); nil for the SQLite file in the home.
    package var store: StoreOpener?
    /// Set for one broker of a pair sharing a PostgreSQL store: how long the active broker's lease
    /// runs unrenewed (`--lease-seconds`). Nil: a single broker, always active.
    package var leaseSeconds: Double?
    package var now: @Sendable () -> Date

    package init(
        home: CapsuleHome,
        ingestBind: String = "tcp://127.0.0.1:7401",
        busBind: String = "tcp://127.0.0.1:7402",
        routerBind: String = "tcp://127.0.0.1:7403",
        advertiseHost: String = "127.0.0.1",
        thresholds: StatusThresholds = .standard,
        commandTTLSeconds: Double = 300,
        maxMessageBytes: Int = 256 * 1024,
        maxMessagesPerSecond: Double = 200,
        burstMessages: Double = 400,
        requestTimeoutSeconds: Double = 10,
        trustedServiceKeys: [String: CurveKey] = [:],
        retentionDays: Int = 90,
        ioThreads: Int32 = 1,
        initializeStore: Bool = false,
        store: StoreOpener? = nil,
        leaseSeconds: Double? = nil,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.home = home
        self.ingestBind = ingestBind
        self.busBind = busBind
        self.routerBind = routerBind
        self.advertiseHost = advertiseHost
        self.thresholds = thresholds
        self.commandTTLSeconds = commandTTLSeconds
        self.maxMessageBytes = maxMessageBytes
        self.maxMessagesPerSecond = maxMessagesPerSecond
        self.burstMessages = burstMessages
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.trustedServiceKeys = trustedServiceKeys
        self.retentionDays = retentionDays
        self.ioThreads = ioThreads
        self.initializeStore = initializeStore
        self.store = store
        self.leaseSeconds = leaseSeconds
        self.now = now
    }

    /// The endpoint a client should dial for a bind address.
    static func advertised(_ bind: String, host: String) -> String {
        bind.replacingOccurrences(of: "://*:", with: "://\(host):").replacingOccurrences(
            of: "://0.0.0.0:",
            with: "://\(host):"
        )
    }
}
