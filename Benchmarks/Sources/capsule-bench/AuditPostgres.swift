import CapsuleAudit
import CapsulePostgres
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// `capsule-bench audit-postgres`: the audit writer storing into PostgreSQL, beside raw batched
/// inserts of the same rows into the same server, measured in the same run (Benchmarks/README.md).
///
/// A private cluster (scripts/pg-cluster.sh, fsync on) holds every store. The audit writer is
/// stopped while the broker journals N events (`token.create_batch`); then it is started and timed
/// until the audit store holds all N: replay pages from the broker's journal (itself in
/// PostgreSQL), decoded, redacted and stored with one COPY a page under
/// `UNIQUE (publisher, incarnation, seq)` (`ON CONFLICT DO NOTHING` when a page overlaps what is
/// held), cursors advanced, acknowledged. The raw side reads those very rows back and writes them
/// into a copy of the table twice, 1,000 rows per statement, one transaction each, awaited one
/// after another, with postgres-nio and nothing of Capsule: a multi-row INSERT … ON CONFLICT DO
/// NOTHING, then COPY … FROM STDIN (the ratio is taken against COPY, the faster).
enum AuditPostgresBench {
    static func main(_ arguments: [String]) throws {
        var events = 100_000
        var bin: URL?
        var keepHome = false
        var index = 0
        while index < arguments.count {
            switch arguments[index] {
            case "--events":
                index += 1
                guard index < arguments.count, let value = Int(arguments[index]), value >= 1_000 else {
                    throw BenchError("--events needs a number ≥ 1000")
                }
                events = value
            case "--bin":
                index += 1
                guard index < arguments.count else { throw BenchError("--bin needs a directory") }
                bin = URL(fileURLWithPath: arguments[index])
            case "--keep-home": keepHome = true
            default:
                throw BenchError("audit-postgres takes --events N, --bin DIR, --keep-home; got \(arguments[index])")
            }
            index += 1
        }
        let binDirectory =
            bin ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        print(try run(events: events, bin: binDirectory, keepHome: keepHome).joined(separator: "\n"))
    }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/pg-cluster.sh").path
    }

    static func shell(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsule-bench-pg-\(UUID().uuidString)"
        )
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = FileHandle.standardError
        process.standardInput = FileHandle.nullDevice
        try process.run()
        while process.isRunning { usleep(20_000) }
        try handle.close()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw BenchError("\(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func run(events: Int, bin: URL, keepHome: Bool) throws -> [String] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capsule-bench-pg-\(getpid())")
        progress("audit-postgres: starting a private PostgreSQL cluster in \(directory.path) (fsync on)")
        let url =
            try shell(
                [script, "start", directory.path],
                environment: ["CAPSULE_PG_FSYNC": "on", "CAPSULE_PG_OWNER_PID": "\(getpid())"]
            )
            .split(separator: "\n").last.map(String.init) ?? ""
        defer { _ = try? shell([script, "destroy", directory.path]) }
        guard let location = PostgresLocation(url) else { throw BenchError("pg-cluster.sh printed no URL") }
        let serverVersion = try PostgresStore.open(location: location, schema: AuditStore.schema).read { db in
            try String.fetchOne(db, sql: "SHOW server_version") ?? "?"
        }

        let cluster = try BenchCluster(bin: bin, keepHome: keepHome)
        defer { cluster.stop() }
        cluster.daemonArguments = ["--store", url]
        progress("audit-postgres: broker, aggregator and audit writer, every store in PostgreSQL \(serverVersion)")
        try cluster.start()
        try cluster.startAudit()
        let home = cluster.capsuleHome
        let (info, serverKey) = try BrokerInfo.resolve(home: home)
        let client = try RequestClient(
            endpoint: info.router,
            keyPair: try KeyFile.read(home.keyFile("operator")),
            serverKey: serverKey,
            sender: "operator:local-owner",
            timeout: 60
        )
        try cluster.waitFor("the broker to answer", seconds: 30) {
            (try? client.call(BrokerOps.Stats.self, NoParams())) != nil
        }
        let audit = PostgresStore(location: location, schema: location.schema("audit"))
        defer { audit.close() }
        func stored() throws -> Int {
            try audit.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_event") ?? 0 }
        }
        try cluster.waitFor("the audit writer's store", seconds: 30) { (try? stored()) != nil }

        progress("audit-postgres: audit writer stopped; the broker journals \(events) events")
        cluster.stopAudit()
        var minted = 0
        while minted < events {
            let batch = min(BrokerOps.TokenCreateBatch.maxCount, events - minted)
            _ = try client.call(
                BrokerOps.TokenCreateBatch.self,
                .init(name: "backlog", count: batch, firstIndex: minted + 1)
            )
            minted += batch
        }
        progress("audit-postgres: starting the audit writer; timing until it stored all \(events)")
        let replay = try cluster.timeReplay(
            events: events,
            highestID: {
                try audit.read { db in try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM audit_event") ?? 0 }
            },
            stored: stored
        )
        let pid = cluster.audit!.processIdentifier
        let auditCPU = cpuSeconds(pid: pid) ?? 0
        let duplicates = try audit.read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) - COUNT(DISTINCT (publisher, incarnation, seq)) FROM audit_event"
            ) ?? -1
        }

        progress("audit-postgres: raw multi-row INSERT, then raw COPY, of the same \(events) rows into the same server")
        let raw = try RawPostgres.copyRows(location: location, schema: location.schema("audit"), rows: events)
        return [
            String(
                format:
                    "audit writer → PostgreSQL %@ events/s sustained (%.0f %% of raw COPY; first event stored to the last), %@ events/s from its start (%@ events in %.2f s; its CPU %.2f s; duplicates %d)  |  raw postgres-nio, same rows: COPY %@ rows/s, multi-row INSERT %@ rows/s; target ≥ 50,000/s",
                rate(replay.sustainedRate),
                replay.sustainedRate / raw.copy * 100,
                rate(replay.rate),
                count(events),
                replay.seconds,
                auditCPU,
                duplicates,
                rate(raw.copy),
                rate(raw.insert)
            ),
            "  PostgreSQL \(serverVersion), private cluster on loopback, fsync on; broker journal also in PostgreSQL; \(ProcessInfo.processInfo.activeProcessorCount) cores, load \(loadAverage())",
        ]
    }
}

/// The raw baseline: postgres-nio only, no Capsule code.
enum RawPostgres {
    /// Rows per second: multi-row INSERT … ON CONFLICT DO NOTHING, then COPY.
    static func copyRows(location: PostgresLocation, schema: String, rows: Int) throws -> (insert: Double, copy: Double)
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        var configuration = PostgresConnection.Configuration(
            host: location.host,
            port: location.port,
            username: location.user,
            password: location.password,
            database: location.database,
            tls: .disable
        )
        configuration.options.additionalStartupParameters = [("search_path", "\"\(schema)\"")]
        let logger = Logger(label: "capsule.bench.raw-postgres")
        let connection = try PostgresConnection.connect(
            on: group.next(),
            configuration: configuration,
            id: 1,
            logger: logger
        ).wait()
        defer { try? connection.close().wait() }
        func run(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> PostgresQueryResult {
            try connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).wait()
        }
        _ = try run("DROP TABLE IF EXISTS raw_audit")
        _ = try run(
            "CREATE TABLE raw_audit (LIKE audit_event INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"
        )
        let columns =
            "publisher, incarnation, seq, at, action, subject, actor, result, fromStatus, toStatus, reason, details"
        let source = try run("SELECT \(columns) FROM audit_event ORDER BY id LIMIT \(rows)").rows
        let start = monotonic()
        var offset = 0
        while offset < source.count {
            let page = source[offset..<min(offset + 1_000, source.count)]
            var binds = PostgresBindings(capacity: page.count * 12)
            var values: [String] = []
            var parameter = 0
            for row in page {
                var placeholders: [String] = []
                for cell in row {
                    parameter += 1
                    placeholders.append("$\(parameter)")
                    binds.append(PostgresData(type: cell.dataType, formatCode: cell.format, value: cell.bytes))
                }
                values.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            _ = try run("BEGIN")
            _ = try run(
                "INSERT INTO raw_audit (\(columns)) VALUES \(values.joined(separator: ", ")) ON CONFLICT DO NOTHING",
                binds
            )
            _ = try run("COMMIT")
            offset += page.count
        }
        let seconds = monotonic() - start
        // The same rows again with COPY … FROM STDIN (text format), 1,000 rows a COPY, one
        // transaction each: the fastest way in, and what the audit writer now uses.
        _ = try run("TRUNCATE raw_audit")
        let names = columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        // The text is made before the clock starts: what is timed is the transfer and the server.
        var buffers: [ByteBuffer] = []
        offset = 0
        while offset < source.count {
            let page = source[offset..<min(offset + 1_000, source.count)]
            var buffer = ByteBuffer()
            for row in page {
                let fields = try row.map { cell -> String in
                    guard cell.bytes != nil else { return "\\N" }
                    switch cell.dataType {
                    case .int2, .int4, .int8: return String(try cell.decode(Int64.self))
                    case .float4, .float8: return try cell.decode(Double.self).description
                    default: break
                    }
                    return try cell.decode(String.self).replacingOccurrences(of: "\\", with: "\\\\")
                        .replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
                        .replacingOccurrences(of: "\r", with: "\\r")
                }
                buffer.writeString(fields.joined(separator: "\t") + "\n")
            }
            buffers.append(buffer)
            offset += page.count
        }
        let copyStart = monotonic()
        for data in buffers {
            _ = try run("BEGIN")
            let done = connection.eventLoop.makePromise(of: Void.self)
            done.completeWithTask {
                try await connection.copyFrom(table: "raw_audit", columns: names, logger: logger) { writer in
                    try await writer.write(data)
                }
            }
            try done.futureResult.wait()
            _ = try run("COMMIT")
        }
        let copySeconds = monotonic() - copyStart
        _ = try run("DROP TABLE raw_audit")
        return (Double(source.count) / seconds, Double(source.count) / copySeconds)
    }
}
