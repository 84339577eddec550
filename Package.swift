// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "capsule",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CapsuleAgentKit", targets: ["CapsuleAgentKit"]),
        .executable(name: "capsule-broker", targets: ["capsule-broker"]),
        .executable(name: "capsule-aggregator", targets: ["capsule-aggregator"]),
        .executable(name: "capsule-audit", targets: ["capsule-audit"]),
        .executable(name: "capsule-agent", targets: ["capsule-agent"]),
        .executable(name: "capsulectl", targets: ["capsulectl"]),
        .executable(name: "capsule-demo-service", targets: ["capsule-demo-service"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // libzmq through a system-library target (see docs/dependencies.md).
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        // libsodium (already under libzmq's CURVE) for token hashes, randomness and sealing at rest.
        .systemLibrary(name: "CSodium", providers: [.apt(["libsodium-dev"])]),
        .target(name: "CapsuleCrypto", dependencies: ["CSodium"]),

        // Shared libraries.
        .target(name: "CapsuleZMQ", dependencies: ["CZeroMQ"]),
        .target(name: "CapsuleDomain"),
        .target(name: "CapsuleProtocol", dependencies: ["CapsuleDomain"]),
        .target(
            name: "CapsuleStore",
            dependencies: ["CapsuleDomain", "CapsuleProtocol", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The PostgreSQL backend of every store (docs/dependencies.md): only the executables and the
        // tests link it, so the libraries (and the fuzz target) stay free of NIO.
        .target(
            name: "CapsulePostgres",
            dependencies: [
                "CapsuleStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What every Capsule process shares, the public SDK included: home and keys, sockets to the
        // broker, message stamping, loop services.
        .target(
            name: "CapsuleRuntime",
            dependencies: [
                "CapsuleZMQ", "CapsuleProtocol", "CapsuleDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // What only executables need: flags, config files, environment, signals, log bootstrap.
        .target(
            name: "CapsuleDaemon",
            dependencies: [
                "CapsuleRuntime", "CapsuleDomain", "CapsuleZMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "CapsuleBroker",
            dependencies: ["CapsuleRuntime", "CapsuleStore", "CapsuleCrypto", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "CapsuleAggregator",
            dependencies: ["CapsuleRuntime", "CapsuleStore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "CapsuleAudit",
            dependencies: ["CapsuleRuntime", "CapsuleStore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(name: "CapsuleAgentKit", dependencies: ["CapsuleRuntime"]),
        .target(
            name: "CapsuleSidecar",
            dependencies: ["CapsuleAgentKit", "CapsuleRuntime", .product(name: "Yams", package: "Yams")]
        ),
        // capsulectl store migrate reads every store's schema and writes PostgreSQL.
        .target(name: "CapsuleCTL", dependencies: ["CapsuleRuntime", "CapsuleDaemon", "CapsuleStore", "CapsulePostgres", "CapsuleAggregator", "CapsuleAudit"]),

        // Thin executables.
        .executableTarget(name: "capsule-broker", dependencies: ["CapsuleBroker", "CapsuleDaemon", "CapsulePostgres", "CapsuleStore"]),
        .executableTarget(name: "capsule-aggregator", dependencies: ["CapsuleAggregator", "CapsuleDaemon", "CapsulePostgres", "CapsuleStore"]),
        .executableTarget(name: "capsule-audit", dependencies: ["CapsuleAudit", "CapsuleDaemon", "CapsulePostgres", "CapsuleStore"]),
        .executableTarget(name: "capsule-agent", dependencies: ["CapsuleSidecar", "CapsuleDaemon"]),
        .executableTarget(name: "capsulectl", dependencies: ["CapsuleCTL", "CapsuleDaemon"]),
        .executableTarget(name: "capsule-demo-service", dependencies: ["CapsuleAgentKit", "CapsuleRuntime", "CapsuleDaemon"]),
        // Fuzz target over the wire decoder and the broker's ingest checks (Fuzz/README.md).
        .executableTarget(name: "capsule-fuzz", dependencies: ["CapsuleBroker", "CapsuleProtocol", "CapsuleStore"]),
        .executableTarget(name: "capsule-bench", dependencies: ["CapsuleZMQ", "CapsuleProtocol", "CapsuleRuntime", "CapsuleDaemon", "CapsuleDomain", "CapsuleStore", "CapsuleAudit",
                                                           "CapsulePostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                                                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                                                           .product(name: "Logging", package: "swift-log"),
                                                           .product(name: "GRDB", package: "GRDB.swift")], path: "Benchmarks/Sources/capsule-bench"),

        // Tests.
        // A private PostgreSQL cluster for tests (scripts/pg-cluster.sh) and the two-backend fixture.
        .target(name: "CapsuleTestSupport", dependencies: ["CapsulePostgres", "CapsuleStore"], path: "Tests/CapsuleTestSupport"),
        .testTarget(name: "CapsuleDomainTests", dependencies: ["CapsuleDomain"]),
        .testTarget(name: "CapsuleProtocolTests", dependencies: ["CapsuleProtocol"]),
        .testTarget(name: "CapsuleZMQTests", dependencies: ["CapsuleZMQ", "CapsuleRuntime"]),
        .testTarget(name: "CapsuleSidecarTests", dependencies: ["CapsuleSidecar", "CapsuleAgentKit"]),
        .testTarget(
            name: "CapsuleStoreTests",
            dependencies: ["CapsuleStore", "CapsuleAudit", "CapsulePostgres", "CapsuleTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "CapsuleAggregatorTests", dependencies: ["CapsuleAggregator", "CapsuleTestSupport"]),
        .testTarget(name: "CapsuleDaemonTests", dependencies: ["CapsuleDaemon", "CapsuleRuntime"]),
        .testTarget(name: "CapsuleBrokerTests", dependencies: ["CapsuleBroker"]),
        .testTarget(
            name: "CapsuleEndToEndTests",
            dependencies: ["CapsuleRuntime", "CapsuleProtocol", "CapsuleZMQ", "CapsuleStore", "CapsulePostgres", "CapsuleTestSupport",
                           .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
