// swift-tools-version:6.2
import PackageDescription

/// The swift-metrics API, for libraries (the executables choose the Prometheus backend).
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")

/// `CAPSULE_COMMIT=abc1234 swift build` (the Makefile sets it from git) names the commit in
/// `--version`; without it the build says "commit unknown". Only the one C file sees the define, so
/// changing it recompiles that file and relinks, nothing else (docs/decisions.md).
let commitSettings: [CSetting] = {
    let commit = Context.environment["CAPSULE_COMMIT"] ?? ""
    let safe = commit.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
    guard !commit.isEmpty, safe, commit.count <= 64 else { return [] }
    return [.define("CAPSULE_COMMIT", to: "\"\(commit)\"")]
}()

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
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // No default traits: Capsule reads its settings itself and needs no swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // Already under Hummingbird and postgres-nio; named so the console can import the types it uses directly.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // libzmq through a system-library target (see docs/dependencies.md).
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        // libsodium (already under libzmq's CURVE) for token hashes, randomness and sealing at rest.
        .systemLibrary(name: "CSodium", providers: [.apt(["libsodium-dev"])]),
        .target(name: "CapsuleCrypto", dependencies: ["CSodium", "CapsuleDomain"]),

        // Shared libraries.
        .target(name: "CapsuleZMQ", dependencies: ["CZeroMQ"]),
        .target(name: "CapsuleDomain"),
        // The git commit this build was made from, when the build names it (CAPSULE_COMMIT; see below).
        .target(name: "CCapsuleBuild", cSettings: commitSettings),
        .target(name: "CapsuleProtocol", dependencies: ["CapsuleDomain", "CCapsuleBuild"]),
        .target(
            name: "CapsuleStore",
            dependencies: [
                "CapsuleDomain", "CapsuleProtocol", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The one HTTP server library (Hummingbird 2): the daemons' /metrics and the web console.
        .target(
            name: "CapsuleHTTP",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The PostgreSQL backend of every store (docs/dependencies.md): only the executables and the
        // tests link it, so the libraries (and the fuzz target) stay free of NIO.
        .target(
            name: "CapsulePostgres",
            dependencies: [
                "CapsuleDomain", "CapsuleStore",
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
                "CapsuleRuntime", "CapsuleDomain", "CapsuleZMQ", "CapsuleProtocol", "CapsuleHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "CapsuleBroker",
            dependencies: [
                "CapsuleRuntime", "CapsuleStore", "CapsuleCrypto", .product(name: "GRDB", package: "GRDB.swift"),
                metrics,
            ]
        ),
        .target(
            name: "CapsuleAggregator",
            dependencies: ["CapsuleRuntime", "CapsuleStore", .product(name: "GRDB", package: "GRDB.swift"), metrics]
        ),
        .target(
            name: "CapsuleAudit",
            dependencies: ["CapsuleRuntime", "CapsuleStore", .product(name: "GRDB", package: "GRDB.swift"), metrics]
        ),
        .target(name: "CapsuleAgentKit", dependencies: ["CapsuleRuntime", metrics]),
        .target(
            name: "CapsuleSidecar",
            dependencies: [
                "CapsuleAgentKit", "CapsuleRuntime", .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The web console `capsulectl console` serves (docs/console.md): HTTP and static files.
        .target(
            name: "CapsuleConsole",
            dependencies: [
                "CapsuleRuntime", "CapsuleProtocol", "CapsuleDomain", "CapsuleCrypto", "CapsuleZMQ",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources")]
        ),
        // capsulectl store migrate reads every store's schema and writes PostgreSQL.
        .target(
            name: "CapsuleCTL",
            dependencies: [
                "CapsuleRuntime", "CapsuleDaemon", "CapsuleProtocol", "CapsuleZMQ", "CapsuleConsole",
                "CapsuleStore", "CapsulePostgres", "CapsuleAggregator", "CapsuleAudit",
                .product(name: "Yams", package: "Yams"),
            ]
        ),

        // Thin executables.
        .executableTarget(
            name: "capsule-broker",
            dependencies: ["CapsuleBroker", "CapsuleDaemon", "CapsulePostgres", "CapsuleStore"]
        ),
        .executableTarget(
            name: "capsule-aggregator",
            dependencies: ["CapsuleAggregator", "CapsuleDaemon", "CapsulePostgres", "CapsuleStore"]
        ),
        .executableTarget(
            name: "capsule-audit",
            dependencies: ["CapsuleAudit", "CapsuleDaemon", "CapsulePostgres", "CapsuleStore"]
        ),
        .executableTarget(name: "capsule-agent", dependencies: ["CapsuleSidecar", "CapsuleDaemon"]),
        .executableTarget(name: "capsulectl", dependencies: ["CapsuleCTL", "CapsuleDaemon"]),
        .executableTarget(
            name: "capsule-demo-service",
            dependencies: ["CapsuleAgentKit", "CapsuleRuntime", "CapsuleDaemon"]
        ),
        // Fuzz target over the wire decoder and the broker's ingest checks (Fuzz/README.md).
        .executableTarget(name: "capsule-fuzz", dependencies: ["CapsuleBroker", "CapsuleProtocol", "CapsuleStore"]),
        .executableTarget(
            name: "capsule-bench",
            dependencies: [
                "CapsuleZMQ", "CapsuleProtocol", "CapsuleRuntime", "CapsuleDaemon", "CapsuleDomain", "CapsuleStore",
                "CapsuleAudit", "CapsuleAggregator", "CapsuleAgentKit",
                "CapsulePostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/Sources/capsule-bench"
        ),
        // The bare Swift process capsule-bench compares the SDK's and the sidecar's memory with.
        .executableTarget(name: "capsule-bare", path: "Benchmarks/Sources/capsule-bare"),
        // The same process with the public SDK product embedded (the SDK's memory figure).
        .executableTarget(
            name: "capsule-sdk-service",
            dependencies: ["CapsuleAgentKit"],
            path: "Benchmarks/Sources/capsule-sdk-service"
        ),

        // Tests.
        // A private PostgreSQL cluster for tests (scripts/pg-cluster.sh) and the two-backend fixture.
        .target(
            name: "CapsuleTestSupport",
            dependencies: ["CapsulePostgres", "CapsuleStore", "CapsuleRuntime"],
            path: "Tests/CapsuleTestSupport"
        ),
        .testTarget(name: "CapsuleDomainTests", dependencies: ["CapsuleDomain"]),
        .testTarget(name: "CapsuleProtocolTests", dependencies: ["CapsuleProtocol"]),
        // The broker's own ZAP decisions are exercised here against real CURVE handshakes.
        .testTarget(
            name: "CapsuleZMQTests",
            dependencies: ["CapsuleZMQ", "CapsuleRuntime", "CapsuleBroker", "CapsuleStore"]
        ),
        .testTarget(name: "CapsuleSidecarTests", dependencies: ["CapsuleSidecar", "CapsuleAgentKit", "CapsuleDomain"]),
        .testTarget(
            name: "CapsuleStoreTests",
            dependencies: [
                "CapsuleStore", "CapsuleAudit", "CapsulePostgres", "CapsuleTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "CapsuleAggregatorTests",
            dependencies: ["CapsuleAggregator", "CapsulePostgres", "CapsuleTestSupport"]
        ),
        .testTarget(
            name: "CapsuleDaemonTests",
            dependencies: [
                "CapsuleDaemon", "CapsuleRuntime", "CapsuleHTTP", "CapsuleTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "CapsuleBrokerTests",
            dependencies: [
                "CapsuleBroker", "CapsuleStore", "CapsuleProtocol", "CapsuleDomain",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CapsuleAgentKitTests",
            dependencies: ["CapsuleAgentKit", "CapsuleProtocol", "CapsuleDomain"]
        ),
        .testTarget(
            name: "CapsuleAuditTests",
            dependencies: ["CapsuleAudit", "CapsuleStore", "CapsuleProtocol", "CapsuleDomain"]
        ),
        .testTarget(
            name: "CapsuleCTLTests",
            dependencies: [
                "CapsuleCTL", "CapsuleDaemon", "CapsuleProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CapsuleCryptoTests", dependencies: ["CapsuleCrypto"]),
        .testTarget(
            name: "CapsuleConsoleTests",
            dependencies: [
                "CapsuleConsole", "CapsuleProtocol", "CapsuleDomain", "CapsuleRuntime", "CapsuleZMQ",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "CapsuleEndToEndTests",
            dependencies: [
                "CapsuleRuntime", "CapsuleProtocol", "CapsuleZMQ", "CapsuleStore", "CapsulePostgres",
                "CapsuleTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // An import is internal unless it says otherwise, so a module's public face names what it exposes.
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    // Capsule's own code builds without a warning (dependencies keep theirs; SwiftPM silences them).
    settings.append(.treatAllWarnings(as: .error))
    target.swiftSettings = settings
}
