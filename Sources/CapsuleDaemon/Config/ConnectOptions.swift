package import ArgumentParser
package import CapsuleDomain
package import CapsuleRuntime
package import CapsuleZMQ
import Foundation

/// Flags shared by every process that connects to a broker.
package struct ConnectOptions: ParsableArguments, Sendable {
    @Option(
        help:
            "A YAML or JSON config file whose keys are these flags' long names; flags and CAPSULE_* variables win over it."
    )
    package var config: String?

    @Option(help: "Capsule home directory (keys, config, data). Defaults to $CAPSULE_HOME or ~/.capsule.")
    package var home: String?

    @Option(help: "Broker ingest endpoint (agents' PUB connects here), e.g. tcp://host:7401.")
    package var ingest: String?

    @Option(help: "Broker bus endpoint (internal XPUB), e.g. tcp://host:7402.")
    package var bus: String?

    @Option(help: "Broker router endpoint (requests and commands), e.g. tcp://host:7403.")
    package var router: String?

    @Option(help: "The broker's CURVE public key: Z85 text or a file holding it.")
    package var brokerKey: String?

    @Option(
        help:
            "The brokers of a pair, comma-separated routers (tcp://a:7403,tcp://b:7403); ingest and bus are at the router's port - 2 and - 1. Clients move to the active one on their own."
    )
    package var broker: String?

    package init() {}

    package var capsuleHome: CapsuleHome { CapsuleHome(path: home) }

    /// Resolves endpoints and the broker key: flags first, then the home's `broker.json`, then defaults.
    package func resolveBroker() throws -> (info: BrokerInfo, serverKey: CurveKey) {
        try BrokerInfo.resolve(
            home: capsuleHome,
            ingest: ingest,
            bus: bus,
            router: router,
            brokerKey: brokerKey,
            brokers: broker
        )
    }
}

/// Flags the broker and the aggregator share.
package struct DaemonOptions: ParsableArguments, Sendable {
    @OptionGroup package var connect: ConnectOptions

    @OptionGroup package var log: LogOptions

    @Option(
        help:
            "Seconds between agent heartbeats (default 30). The broker stores these three at its first start; later, change them with capsulectl settings set. The aggregator uses them only until it has read the broker's settings."
    )
    package var heartbeatSeconds: Double = 30

    @Option(help: "Seconds without news before a service reads STALE (default 60).")
    package var staleSeconds: Double = 60

    @Option(help: "Seconds without a heartbeat before an agent and its services read OFFLINE (default 90).")
    package var offlineSeconds: Double = 90

    package init() {}

    /// The heartbeat cadence and the STALE/OFFLINE silences these flags describe.
    package var thresholds: StatusThresholds {
        StatusThresholds(heartbeatSeconds: heartbeatSeconds, staleSeconds: staleSeconds, offlineSeconds: offlineSeconds)
    }

    package func validate() throws {
        guard heartbeatSeconds > 0, staleSeconds > 0, offlineSeconds > 0 else {
            throw ValidationError("--heartbeat-seconds, --stale-seconds and --offline-seconds must be positive")
        }
        guard staleSeconds <= offlineSeconds else {
            throw ValidationError(
                "--stale-seconds (\(staleSeconds)) must not exceed --offline-seconds (\(offlineSeconds))"
            )
        }
    }
}
