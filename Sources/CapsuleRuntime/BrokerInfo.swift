import CapsuleZMQ
import Foundation

/// Where a broker can be reached and the public key to trust. The broker writes it to its home
/// (`broker.json`) at start; clients sharing the home read it; clients elsewhere take flags.
package struct BrokerInfo: Codable, Sendable, Hashable {
    package var ingest: String
    package var bus: String
    package var router: String
    package var publicKey: String

    package init(ingest: String, bus: String, router: String, publicKey: String) {
        self.ingest = ingest
        self.bus = bus
        self.router = router
        self.publicKey = publicKey
    }

    package static let defaultIngest = "tcp://127.0.0.1:7401"
    package static let defaultBus = "tcp://127.0.0.1:7402"
    package static let defaultRouter = "tcp://127.0.0.1:7403"

    package var serverKey: CurveKey? { CurveKey(z85: publicKey) }

    package func write(to home: CapsuleHome) throws {
        try home.prepare()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: home.brokerInfoFile, options: .atomic)
    }

    package static func read(from home: CapsuleHome) -> BrokerInfo? {
        guard let data = try? Data(contentsOf: home.brokerInfoFile) else { return nil }
        return try? JSONDecoder().decode(BrokerInfo.self, from: data)
    }

    /// Resolves endpoints and the broker key: explicit values first, then the home's `broker.json`,
    /// then the loopback defaults.
    package static func resolve(
        home: CapsuleHome, ingest: String? = nil, bus: String? = nil, router: String? = nil, brokerKey: String? = nil
    ) throws -> (info: BrokerInfo, serverKey: CurveKey) {
        let found = read(from: home)
        let info = BrokerInfo(
            ingest: ingest ?? found?.ingest ?? defaultIngest,
            bus: bus ?? found?.bus ?? defaultBus,
            router: router ?? found?.router ?? defaultRouter,
            publicKey: found?.publicKey ?? ""
        )
        let key: CurveKey
        if let brokerKey {
            key = try KeyFile.readPublicKey(brokerKey)
        } else if let known = info.serverKey {
            key = known
        } else {
            throw ConfigError(
                file: home.brokerInfoFile.path,
                key: "publicKey",
                reason: "broker key unknown: start capsule-broker with this home first, or pass --broker-key"
            )
        }
        return (BrokerInfo(ingest: info.ingest, bus: info.bus, router: info.router, publicKey: key.z85), key)
    }
}
