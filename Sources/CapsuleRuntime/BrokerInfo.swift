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
}
