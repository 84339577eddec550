package import CapsulePostgres
import CapsuleRuntime
package import CapsuleStore
package import Foundation
import Synchronization

/// A private PostgreSQL cluster for the tests of one process: started on first use in a temporary
/// folder (`scripts/pg-cluster.sh`: initdb, a free loopback port, a unix socket in the folder, the
/// database `capsule`), stopped and removed when the process exits. Each test takes its own
/// schema prefix, so tests running in parallel never see each other's rows.
package final class PostgresTestCluster: Sendable {
    package let directory: URL
    package let url: String
    package let port: Int

    private static let state = Mutex<Result<PostgresTestCluster, PostgresClusterError>?>(nil)

    /// Why no cluster could be started (PostgreSQL not installed, initdb failed): tests report it.
    package struct PostgresClusterError: Error, CustomStringConvertible {
        package var description: String
    }

    /// The repository's `scripts/pg-cluster.sh`.
    package static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("scripts/pg-cluster.sh").path
    }

    /// The process's cluster, started on first use.
    package static func shared() throws -> PostgresTestCluster {
        try state.withLock { state in
            if let state { return try state.get() }
            let result: Result<PostgresTestCluster, PostgresClusterError>
            do {
                result = .success(try PostgresTestCluster.start())
                atexit { PostgresTestCluster.stopShared() }
            } catch {
                result = .failure(PostgresClusterError(description: "\(error)"))
            }
            state = result
            return try result.get()
        }
    }

    private static func stopShared() {
        guard case .success(let cluster)? = state.withLock({ $0 }) else { return }
        _ = try? run(script, ["destroy", cluster.directory.path])
    }

    /// Starts a cluster of its own (a test that stops and restarts its server uses one).
    package static func start() throws -> PostgresTestCluster {
        let directory = URL(fileURLWithPath: "/tmp/capsule-pg-\(getpid())-\(UUID().uuidString.prefix(8))")
        let output = try run(script, ["start", directory.path])
        let url = output.split(separator: "\n").last.map(String.init) ?? ""
        guard let location = PostgresLocation(url) else {
            throw PostgresClusterError(description: "pg-cluster.sh printed no URL: \(output)")
        }
        return PostgresTestCluster(directory: directory, url: url, port: location.port)
    }

    private init(directory: URL, url: String, port: Int) {
        self.directory = directory
        self.url = url
        self.port = port
    }

    /// Stops the server (its data stays), e.g. to test a store outage.
    package func stop() throws { _ = try Self.run(Self.script, ["stop", directory.path]) }

    /// Starts it again on the same port.
    package func restart() throws { _ = try Self.run(Self.script, ["start", directory.path, String(port)]) }

    /// Stops it and removes its folder.
    package func destroy() { _ = try? Self.run(Self.script, ["destroy", directory.path]) }

    /// A location of its own in this cluster: the same database, schemas prefixed with `prefix`.
    package func location(
        prefix: String = "t" + UUID().uuidString.prefix(8).lowercased(),
        timeoutSeconds: Double = 5
    ) -> PostgresLocation {
        var location = PostgresLocation(url)!
        location.schemaPrefix = prefix
        location.timeoutSeconds = timeoutSeconds
        return location
    }

    /// The `--store` value for that location.
    package func storeURL(prefix: String) -> String { "\(url)?schema=\(prefix)" }

    /// Runs a program to its end and returns what it printed on standard output. It starts through
    /// ``ChildProcess`` (posix_spawn and waitpid): the server it leaves running keeps no descriptor of
    /// this process (another test's pipes, or the sockets Foundation's `Process` watches its
    /// children's exits through), and Foundation's `Process.waitUntilExit` would wait for that
    /// server, which inherits the script's output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        // The cluster goes when this process does, even if it crashes (see pg-cluster.sh).
        let environment = ProcessInfo.processInfo.environment.merging(["CAPSULE_PG_OWNER_PID": "\(getpid())"]) {
            _,
            new in new
        }
        let output: TestProcess.Output
        do {
            output = try TestProcess.run(executable, arguments, environment: environment)
        } catch {
            throw PostgresClusterError(description: "cannot run \(executable): \(error)")
        }
        guard output.exitCode == 0 else {
            throw PostgresClusterError(
                description:
                    "\(executable) \(arguments.joined(separator: " ")) failed (exit \(output.exitCode)): \(output.stderr)\(output.stdout)"
            )
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The two store backends, for tests parameterised over both (`@Test(arguments: StoreBackend.all)`).
package enum StoreBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    package static let all = StoreBackend.allCases

    package var description: String { rawValue }
}

/// Where one test's stores live on one backend: a temporary folder for SQLite files, or a schema
/// prefix in the shared cluster. Opening the same fixture twice reopens the same stores.
package final class StoreFixture: Sendable {
    package let backend: StoreBackend
    package let directory: URL
    package let postgres: PostgresLocation?

    package init(_ backend: StoreBackend) throws {
        self.backend = backend
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsule-store-tests-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        postgres = backend == .postgres ? try PostgresTestCluster.shared().location() : nil
    }

    /// The store `schema`, opened (and migrated) afresh.
    package func open(_ schema: StoreSchema) throws -> any SQLStore {
        if let postgres { return try PostgresStore.open(location: postgres, schema: schema) }
        return try SQLiteStore.open(at: directory.appendingPathComponent("\(schema.name).sqlite"), schema: schema)
    }

    /// The `--store` value daemons take for this fixture.
    package var storeFlag: String? {
        guard let postgres else { return nil }
        var text =
            "postgres://\(postgres.user)@\(postgres.host):\(postgres.port)/\(postgres.database)?schema=\(postgres.schemaPrefix)"
        text += "&timeout=\(Int(postgres.timeoutSeconds))"
        return text
    }

    /// Removes the folder and, on PostgreSQL, the fixture's schemas.
    package func remove() {
        try? FileManager.default.removeItem(at: directory)
        guard let postgres else { return }
        let store = PostgresStore(location: postgres, schema: "public")
        for name in ["broker", "aggregator", "audit"] {
            _ = try? store.write { db in
                try db.execute(sql: "DROP SCHEMA IF EXISTS \"\(postgres.schema(name))\" CASCADE")
            }
        }
        store.close()
    }

    /// Runs `body` with a fixture and removes it afterwards.
    package static func with<T>(_ backend: StoreBackend, _ body: (StoreFixture) throws -> T) throws -> T {
        let fixture = try StoreFixture(backend)
        defer { fixture.remove() }
        return try body(fixture)
    }
}
