import CapsuleCrypto
import CapsuleDomain
import CapsuleProtocol
package import CapsuleRuntime
import CapsuleStore
package import CapsuleZMQ
import Foundation
package import Logging

/// Prepares the broker's home (keys, the local owner and internal service keys) and builds the
/// service that runs it.
package enum Broker {
    /// Local principals created at first start, so processes sharing the home need no other flag.
    package static let internalServices = ["aggregator", "audit"]

    package static func makeService(
        configuration: BrokerConfiguration,
        logger: Logger
    ) throws -> LoopService<some LoopCore> {
        let home = configuration.home
        try home.prepare()
        let opener = configuration.store ?? .sqlite(directory: home.dataDirectory)
        if configuration.leaseSeconds != nil, !opener.isShared {
            throw ConfigError(
                file: "--lease-seconds",
                key: nil,
                reason: "a broker pair needs a shared PostgreSQL store: pass --store postgres://… to both brokers"
            )
        }
        // A broker key without its store: the store was lost or moved. Starting empty would silently
        // drop every enrolment, token and operator, so it takes an explicit --init-store.
        if let directory = opener.sqliteDirectory, FileManager.default.fileExists(atPath: home.keyFile("broker").path),
            case let storeURL = directory.appendingPathComponent("broker.sqlite"),
            !FileManager.default.fileExists(atPath: storeURL.path), !configuration.initializeStore
        {
            throw StoreError(
                .corrupt,
                "\(storeURL.path) is missing, but this home's broker key exists: restore the store from a backup, or pass --init-store to start a new, empty one (every agent must then enrol again)"
            )
        }
        let keyPair = try home.loadOrCreateKeyPair("broker")
        let store = BrokerStore(
            database: try opener.open(BrokerStore.schema, initialize: configuration.initializeStore)
        )
        let now = configuration.now()
        var seeds: [Principal] = []
        for name in internalServices {
            let pair = try home.loadOrCreateKeyPair(name)
            seeds.append(Principal(publicKey: pair.publicKey.z85, kind: .service, identity: name, createdAt: now))
        }
        // Internal services on other hosts: their public keys are given explicitly (--trust-service).
        for (name, key) in configuration.trustedServiceKeys.sorted(by: { $0.key < $1.key }) {
            seeds.append(Principal(publicKey: key.z85, kind: .service, identity: name, createdAt: now))
        }
        let owner = try home.loadOrCreateKeyPair("operator")
        seeds.append(
            Principal(
                publicKey: owner.publicKey.z85,
                kind: .operator,
                identity: "local-owner",
                role: .owner,
                createdAt: now
            )
        )
        let info = BrokerInfo(
            ingest: BrokerConfiguration.advertised(configuration.ingestBind, host: configuration.advertiseHost),
            bus: BrokerConfiguration.advertised(configuration.busBind, host: configuration.advertiseHost),
            router: BrokerConfiguration.advertised(configuration.routerBind, host: configuration.advertiseHost),
            publicKey: keyPair.publicKey.z85
        )
        try info.write(to: home)
        _ = FileManager.default.createFile(
            atPath: home.url.appendingPathComponent("broker.pub").path,
            contents: Data((keyPair.publicKey.z85 + "\n").utf8)
        )
        let payloadBox = try loadPayloadBox(home: home)
        let principalsToSeed = seeds
        let context = ZMQContext(ioThreads: configuration.ioThreads)
        var keeper: LeaseKeeper?
        if let seconds = configuration.leaseSeconds {
            // The lease has a connection of its own, so renewals never wait behind the loop's writes.
            let leaseStore = try opener.open(BrokerStore.schema)
            let holder = "\(ProcessInfo.processInfo.hostName)/\(getpid())/\(UUID().uuidString.prefix(6).lowercased())"
            keeper = LeaseKeeper(
                store: leaseStore,
                holder: holder,
                endpoint: info.router,
                seconds: seconds,
                logger: logger
            ) { _ in
                BrokerRestart.now()
            }
        }
        let lease = keeper
        let thread = LoopThread(name: "capsule-broker", context: context) { loop in
            try BrokerNode(
                loop: loop,
                store: store,
                keeper: lease,
                standbyBind: configuration.routerBind,
                secretKey: keyPair.secretKey,
                maxMessageBytes: configuration.maxMessageBytes,
                logger: logger
            ) { loop in
                let core = try BrokerCore(
                    configuration: configuration,
                    store: store,
                    keyPair: keyPair,
                    payloadBox: payloadBox,
                    loop: loop,
                    logger: logger
                )
                try core.seed(principalsToSeed)
                return core
            }
        }
        return LoopService(thread: thread)
    }

    /// The at-rest key for raw command payloads: 32 random bytes, hex, mode 0600.
    static func loadPayloadBox(home: CapsuleHome) throws -> SecretBox {
        let file = home.keysDirectory.appendingPathComponent("payload.key")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
                guard let byte = UInt8(hex[index..<next], radix: 16) else { break }
                bytes.append(byte)
                index = next
            }
            guard let box = SecretBox(key: bytes) else {
                throw ConfigError(file: file.path, key: nil, reason: "not a \(SecretBox.keyLength)-byte hex key")
            }
            return box
        }
        let key = SecretBox.generateKey()
        let hex = Hex.string(key) + "\n"
        guard
            FileManager.default.createFile(
                atPath: file.path,
                contents: Data(hex.utf8),
                attributes: [.posixPermissions: 0o600]
            ),
            let box = SecretBox(key: key)
        else { throw ConfigError(file: file.path, key: nil, reason: "cannot write the payload key") }
        return box
    }
}
