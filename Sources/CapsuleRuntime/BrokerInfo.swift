package import CapsuleZMQ
import Foundation

/// Where a broker can be reached and the public key to trust. The broker writes it to its home
/// (`broker.json`) at start; clients sharing the home read it; clients elsewhere take flags.
package struct BrokerInfo: Codable, Sendable, Hashable {
    package var ingest: String
    package var bus: String
    package var router: String
    package var publicKey: String
    /// Every broker of a pair, in the order to try first (`--broker tcp://a:7403,tcp://b:7403`);
    /// nil for a single broker. The fields above are then the first one's. Both brokers of a pair
    /// share one key pair (docs/reliability.md), so `publicKey` serves for both.
    package var pair: [Endpoints]?

    /// One broker's three endpoints.
    package struct Endpoints: Codable, Sendable, Hashable {
        package var ingest: String
        package var bus: String
        package var router: String

        package init(ingest: String, bus: String, router: String) {
            self.ingest = ingest
            self.bus = bus
            self.router = router
        }
    }

    package init(ingest: String, bus: String, router: String, publicKey: String, pair: [Endpoints]? = nil) {
        self.ingest = ingest
        self.bus = bus
        self.router = router
        self.publicKey = publicKey
        self.pair = pair
    }

    /// The brokers to try, in order: the pair's, or the one.
    package var candidates: [Endpoints] { pair ?? [Endpoints(ingest: ingest, bus: bus, router: router)] }

    /// Parses `--broker`: a comma-separated list of routers (`tcp://host:7403`, or `host[:port]`
    /// for `tcp://host:port`, port 7403 by default). Each broker of a pair binds the standard
    /// layout, ingest at the router's port − 2 and the bus at − 1 (7401, 7402, 7403).
    package static func parseBrokers(_ text: String) throws -> [Endpoints] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw ConfigError(file: "--broker", key: nil, reason: "names no broker") }
        return try items.map { item in
            let address =
                item.contains("://")
                ? String(item.split(separator: "/", omittingEmptySubsequences: true).last ?? "") : item
            let hostAndPort = address.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let host = hostAndPort.dropLast(hostAndPort.count > 1 ? 1 : 0).joined(separator: ":")
            let port = hostAndPort.count > 1 ? Int(hostAndPort.last!) : 7403
            guard !host.isEmpty, let port, port > 2, port < 65_536, !item.contains("://") || item.hasPrefix("tcp://")
            else {
                throw ConfigError(
                    file: "--broker",
                    key: nil,
                    reason: "\(item) is not a broker router (tcp://host:port)"
                )
            }
            return Endpoints(
                ingest: "tcp://\(host):\(port - 2)",
                bus: "tcp://\(host):\(port - 1)",
                router: "tcp://\(host):\(port)"
            )
        }
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
        home: CapsuleHome,
        ingest: String? = nil,
        bus: String? = nil,
        router: String? = nil,
        brokerKey: String? = nil,
        brokers: String? = nil
    ) throws -> (info: BrokerInfo, serverKey: CurveKey) {
        let found = read(from: home)
        let pair = try brokers.map(parseBrokers)
        var info = BrokerInfo(
            ingest: ingest ?? pair?.first?.ingest ?? found?.ingest ?? defaultIngest,
            bus: bus ?? pair?.first?.bus ?? found?.bus ?? defaultBus,
            router: router ?? pair?.first?.router ?? found?.router ?? defaultRouter,
            publicKey: found?.publicKey ?? ""
        )
        if let pair, pair.count > 1 { info.pair = pair }
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
        return (
            BrokerInfo(ingest: info.ingest, bus: info.bus, router: info.router, publicKey: key.z85, pair: info.pair),
            key
        )
    }
}
