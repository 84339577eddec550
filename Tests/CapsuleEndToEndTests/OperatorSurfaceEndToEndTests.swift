import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleTestSupport
import CapsuleZMQ
import Foundation
import Testing

/// Issue 12, the operators' surface, with the real executables: /metrics, JSON logs, --version,
/// capsulectl's habits (global options anywhere, -o, exit codes, contexts, completions, --watch).
@Suite(.serialized)
struct OperatorSurfaceEndToEndTests {
    /// One sample's value from a Prometheus text scrape (`name{labels} value`).
    static func sample(_ scrape: String, _ series: String) -> Double? {
        for line in scrape.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// Runs an executable from the build folder with exactly this environment (plus PATH and HOME).
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) throws -> Cluster.CTLResult {
        var env = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": FileManager.default.temporaryDirectory.path,
        ]
        for (key, value) in environment { env[key] = value }
        return try TestProcess.run(
            Cluster.binDirectory.appendingPathComponent(executable).path,
            arguments,
            environment: env
        )
    }

    static func scrape(_ port: Int) -> String? {
        (try? LoopbackHTTP.get(port: port, path: "/metrics", timeoutSeconds: 5)).flatMap {
            $0.status == 200 ? $0.body : nil
        }
    }

    @Test func everyDaemonServesMetricsThatMove() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.setHealth("UP")
            try cluster.startBroker(extra: ["--log-format", "json"])
            try cluster.startAggregator()
            try cluster.startAudit()
            try cluster.waitFor("operator access") { try cluster.ctl(["token", "list"]).exitCode == 0 }
            try cluster.startDemoService()
            try cluster.waitFor("billing-bridge HEALTHY") {
                try cluster.status(of: "billing-bridge")?.status == "HEALTHY"
            }

            // The aggregator: one HEALTHY service, one ONLINE agent, heartbeats counted.
            try cluster.waitFor("services HEALTHY gauge is 1") {
                Self.scrape(cluster.metricsPorts.aggregator).flatMap {
                    Self.sample($0, #"capsule_aggregator_services{status="HEALTHY"}"#)
                } == 1
            }
            let aggregator = try #require(Self.scrape(cluster.metricsPorts.aggregator))
            #expect(Self.sample(aggregator, #"capsule_aggregator_agents{status="ONLINE"}"#) == 1)
            #expect(Self.sample(aggregator, #"capsule_aggregator_services{status="OFFLINE"}"#) == 0)
            #expect(
                aggregator.contains(#"capsule_build_info{"#) && aggregator.contains(#"program="capsule-aggregator""#)
            )

            // The broker: heartbeats received grow (the demo beats every second).
            let first = try #require(
                Self.scrape(cluster.metricsPorts.broker).flatMap {
                    Self.sample($0, "capsule_broker_heartbeats_received_total")
                }
            )
            try cluster.waitFor("broker heartbeats grow") {
                (Self.scrape(cluster.metricsPorts.broker).flatMap {
                    Self.sample($0, "capsule_broker_heartbeats_received_total")
                } ?? 0) >= first + 2
            }
            let aggregatorBeats = Self.sample(aggregator, "capsule_aggregator_heartbeats_received_total") ?? 0
            #expect(aggregatorBeats >= 1)

            // A command: counted by outcome, with its round trip in the histogram.
            #expect(try cluster.ctl(["action", "run", "billing-bridge", "flush-cache"]).exitCode == 0)
            #expect(try cluster.ctl(["action", "run", "billing-bridge", "fail-always"]).exitCode == 1)
            let broker = try #require(Self.scrape(cluster.metricsPorts.broker))
            #expect(Self.sample(broker, #"capsule_broker_commands_finished_total{status="SUCCEEDED"}"#) == 1)
            #expect(Self.sample(broker, #"capsule_broker_commands_finished_total{status="FAILED"}"#) == 1)
            #expect(Self.sample(broker, "capsule_broker_commands_created_total") == 2)
            #expect(Self.sample(broker, #"capsule_broker_command_round_trip_seconds_count{status="SUCCEEDED"}"#) == 1)
            #expect(
                (Self.sample(broker, #"capsule_broker_zap_decisions_total{domain="router",decision="accepted"}"#) ?? 0)
                    >= 1
            )
            #expect((Self.sample(broker, #"capsule_broker_connected_peers{kind="agent"}"#) ?? 0) == 1)
            #expect((Self.sample(broker, "capsule_store_write_seconds_count") ?? 0) >= 1)
            #expect(broker.contains(#"capsule_journal_depth_events{publisher="broker"}"#))
            // No label is ever an agent or a service.
            #expect(!broker.contains("billing-bridge") && !broker.contains("agt_"))
            #expect(!aggregator.contains("billing-bridge") && !aggregator.contains("agt_"))

            // The audit writer: events stored per publisher, and the lag behind each journal.
            try cluster.waitFor("audit metrics") {
                guard let audit = Self.scrape(cluster.metricsPorts.audit) else { return false }
                return (Self.sample(audit, #"capsule_audit_events_stored_total{publisher="broker"}"#) ?? 0) >= 1
                    && Self.sample(audit, #"capsule_audit_lag_events{publisher="broker"}"#) != nil
            }

            // The broker logged JSON: every line parses, with ISO timestamps in milliseconds.
            let lines = try String(contentsOf: cluster.log("broker"), encoding: .utf8).split(separator: "\n")
            #expect(!lines.isEmpty)
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["msg"] != nil, "not a JSON log line: \(line)")
                #expect((object?["ts"] as? String)?.count == 24)
            }
            #expect(lines.contains { $0.contains(#""msg":"Broker listening.""#) })
            // And the others logfmt, the default.
            let logfmt = try String(contentsOf: cluster.log("aggregator"), encoding: .utf8)
            #expect(logfmt.contains(#"level=info logger=capsule.aggregator msg="Aggregator started.""#))
        }
    }

    @Test func exitCodesTellTheCasesApart() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()

            // 0 and 1: the action SUCCEEDED, or FAILED.
            #expect(try cluster.ctl(["action", "run", "billing-bridge", "flush-cache"]).exitCode == 0)
            let failed = try cluster.ctl(["action", "run", "billing-bridge", "fail-always"])
            #expect(failed.exitCode == 1)
            // 2: usage, always one line.
            for arguments in [
                ["status", "--frobnicate"], ["status", "-o", "xml"], ["stauts"], ["token", "create"],
                ["status", "--json", "-o", "yaml"], ["status", "--key", "/nonexistent.key"],
                ["status", "--context", "nowhere"],
            ] {
                let result = try cluster.ctl(arguments)
                #expect(result.exitCode == 2, "\(arguments): \(result.stderr)")
                #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
                #expect(result.stderr.hasPrefix("capsulectl: "), "\(arguments): \(result.stderr)")
                #expect(!result.stderr.contains("NSCocoaErrorDomain"))
            }
            #expect(try cluster.ctl(["stauts"]).stderr.contains("did you mean 'status'?"))
            // 3: refused (confirmation missing; a viewer running an action; a key nobody enrolled; a removed operator).
            #expect(
                try cluster.ctl([
                    "action", "run", "billing-bridge", "rotate-credentials", "--payload", #"{"reason":"x"}"#,
                ]).exitCode == 3
            )
            let viewerKey = cluster.home.appendingPathComponent("vera.key").path
            #expect(try cluster.ctl(["operator", "add", "vera", "--role", "viewer", "--out", viewerKey]).exitCode == 0)
            #expect(try cluster.ctl(["status", "--key", viewerKey]).exitCode == 0)
            let forbidden = try cluster.ctl(["action", "run", "billing-bridge", "flush-cache", "--key", viewerKey])
            #expect(forbidden.exitCode == 3, "\(forbidden.stderr)")
            let strangerKey = cluster.home.appendingPathComponent("stranger.key")
            try KeyFile.write(try CurveKeyPair.generate(), to: strangerKey, name: "stranger", role: "viewer")
            let stranger = try cluster.ctl(["status", "--key", strangerKey.path])
            #expect(stranger.exitCode == 3)
            #expect(stranger.stderr.contains("not enrolled"), "\(stranger.stderr)")
            #expect(try cluster.ctl(["operator", "remove", "vera"]).exitCode == 0)
            let started = Date()
            let removed = try cluster.ctl(["status", "--key", viewerKey])
            #expect(removed.exitCode == 3)
            #expect(removed.stderr.contains("refused this key"), "\(removed.stderr)")
            #expect(Date().timeIntervalSince(started) < 5)
            // 4: not found.
            #expect(try cluster.ctl(["service", "show", "no-such-service"]).exitCode == 4)
            #expect(try cluster.ctl(["command", "show", "cmd_0000000000000000"]).exitCode == 4)
            #expect(try cluster.ctl(["action", "run", "billing-bridge", "no-such-action"]).exitCode == 4)
            // 6: the wait ended first; the command goes on.
            let slow = try cluster.ctl([
                "action", "run", "billing-bridge", "slow-task", "--payload", #"{"ms":4000}"#, "--timeout", "1",
            ])
            #expect(slow.exitCode == 6, "\(slow.stderr)")
            #expect(slow.stderr.contains("may still finish"))
            // 5: unreachable, fast: nothing listens on the router port.
            let closed = LoopbackPort.free()
            let unreachableStart = Date()
            let unreachable = try cluster.ctl(["status", "--router", "tcp://127.0.0.1:\(closed)"])
            #expect(unreachable.exitCode == 5, "\(unreachable.stderr)")
            #expect(unreachable.stderr.contains("cannot reach the broker"))
            #expect(Date().timeIntervalSince(unreachableStart) < 4)
            cluster.stop("aggregator", signal: SIGKILL)
            let noAggregator = try cluster.ctl(["status", "--timeout", "3"])
            #expect([5, 6].contains(noAggregator.exitCode), "\(noAggregator.exitCode) \(noAggregator.stderr)")
        }
    }

    @Test func globalOptionsGoAnywhereAndOutputFormatsAgree() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()
            let env = ["CAPSULE_HOME": cluster.home.path]

            let before = try Self.run("capsulectl", ["--json", "status"], environment: env)
            let after = try Self.run("capsulectl", ["status", "--json"], environment: env)
            let short = try Self.run("capsulectl", ["-o", "json", "status"], environment: env)
            #expect(
                before.exitCode == 0 && after.exitCode == 0 && short.exitCode == 0,
                "\(before.stderr)\(after.stderr)"
            )
            let rows = try Cluster.ctlDecoder.decode([ServiceStatusRow].self, from: Data(before.stdout.utf8))
            #expect(rows.map(\.code) == ["billing-bridge"])
            #expect(
                try Cluster.ctlDecoder.decode([ServiceStatusRow].self, from: Data(short.stdout.utf8)).map(\.code) == [
                    "billing-bridge"
                ]
            )
            let yaml = try Self.run("capsulectl", ["status", "-o", "yaml"], environment: env)
            #expect(yaml.stdout.hasPrefix("- agentCode: demo-swift"), "\(yaml.stdout)")
            let wide = try Self.run("capsulectl", ["status", "-o", "wide"], environment: env)
            #expect(wide.stdout.contains("AGENT ID") && wide.stdout.contains("HEALTH MESSAGE"))
            let plain = try Self.run("capsulectl", ["--no-headers", "status"], environment: env)
            #expect(plain.stdout.hasPrefix("billing-bridge"))
            let variable = try Self.run(
                "capsulectl",
                ["status"],
                environment: env.merging(["CAPSULE_OUTPUT": "json"]) { $1 }
            )
            #expect(variable.stdout.hasPrefix("["))

            // With CAPSULE_HOME exported: bare capsulectl and help print help; a typo is one line.
            let bare = try Self.run("capsulectl", [], environment: env)
            #expect(bare.exitCode == 0 && bare.stdout.contains("SUBCOMMANDS") && bare.stderr.isEmpty, "\(bare.stderr)")
            let help = try Self.run("capsulectl", ["help", "status"], environment: env)
            #expect(help.exitCode == 0 && help.stdout.contains("--watch"), "\(help.stderr)")
            let typo = try Self.run("capsulectl", ["agnets"], environment: env)
            #expect(
                typo.exitCode == 2
                    && typo.stderr
                        == "capsulectl: unknown command 'agnets' (did you mean 'agents'?); see 'capsulectl --help'\n"
            )

            // status --watch redraws on change and --timeout ends it.
            let watch = try Self.run(
                "capsulectl",
                ["status", "--watch", "--timeout", "3", "-o", "json"],
                environment: env
            )
            #expect(watch.exitCode == 0, "\(watch.stderr)")
            let documents = watch.stdout.split(separator: "\n")
            #expect(!documents.isEmpty)
            for document in documents { #expect((try? JSONValue.parse(String(document))) != nil) }

            // audit --follow: stable columns, in time order, ended by --timeout.
            let follow = try Self.run(
                "capsulectl",
                ["audit", "--follow", "--limit", "5", "--timeout", "2"],
                environment: env
            )
            #expect(follow.exitCode == 0, "\(follow.stderr)")
            let followed = follow.stdout.split(separator: "\n")
            #expect(followed.first?.hasPrefix("TIME") == true)
            #expect(followed.count == 6)

            // cluster-info and version name every component, with commit and schema.
            let info = try Self.run("capsulectl", ["cluster-info"], environment: env)
            #expect(info.exitCode == 0, "\(info.stderr)")
            #expect(info.stdout.contains("You:     operator:local-owner (owner)"))
            for component in ["broker", "aggregator", "audit"] { #expect(info.stdout.contains("\n\(component) ")) }
            let clusterJSON = try Cluster.ctlDecoder.decode(
                ClusterInfo.self,
                from: Data(try Self.run("capsulectl", ["cluster-info", "-o", "json"], environment: env).stdout.utf8)
            )
            #expect(clusterJSON.components.map(\.schemaVersion) == ["v4", "v3", "v2"].map { Optional($0) })
            let version = try Self.run("capsulectl", ["version"], environment: env)
            #expect(version.stdout.contains("Client: capsulectl \(CapsuleVersion.current)"))
            #expect(version.stdout.contains("Server: aggregator \(CapsuleVersion.current)"))
        }
    }

    @Test func contextsCompletionsAndVersions() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startWithDemoService()
            let configFile = cluster.home.appendingPathComponent("client/config.yaml").path
            let env = ["CAPSULE_CLIENT_CONFIG": configFile]

            // A context made with set-context, chosen with --context or use-context.
            let set = try Self.run(
                "capsulectl",
                ["config", "set-context", "e2e", "--home", cluster.home.path],
                environment: env
            )
            #expect(set.exitCode == 0, "\(set.stderr)")
            #expect(
                try Self.run(
                    "capsulectl",
                    ["config", "set-context", "other", "--home", "/nonexistent"],
                    environment: env
                ).exitCode == 0
            )
            #expect(try Self.run("capsulectl", ["config", "current-context"], environment: env).stdout == "e2e\n")
            let listed = try Self.run("capsulectl", ["config", "get-contexts"], environment: env)
            #expect(listed.stdout.contains("*        e2e"), "\(listed.stdout)")
            #expect(try Self.run("capsulectl", ["status"], environment: env).stdout.contains("billing-bridge"))
            #expect(try Self.run("capsulectl", ["config", "use-context", "other"], environment: env).exitCode == 0)
            #expect(
                try Self.run("capsulectl", ["status"], environment: env).exitCode == 2,
                "the other context's home has no key"
            )
            #expect(
                try Self.run("capsulectl", ["--context", "e2e", "status"], environment: env).stdout.contains(
                    "billing-bridge"
                )
            )
            let unknown = try Self.run("capsulectl", ["status", "--context", "staging"], environment: env)
            #expect(unknown.exitCode == 2)
            #expect(
                unknown.stderr.contains("unknown context 'staging'") && unknown.stderr.contains("contexts: e2e, other")
            )
            #expect(try Self.run("capsulectl", ["config", "use-context", "staging"], environment: env).exitCode == 2)
            try Data("contexts: [\n".utf8).write(to: URL(fileURLWithPath: configFile))
            let malformed = try Self.run("capsulectl", ["status"], environment: env)
            #expect(
                malformed.exitCode == 2 && malformed.stderr.split(separator: "\n").count == 1,
                "\(malformed.stderr)"
            )

            // Completion scripts, and the custom completions they call, which ask the broker.
            for shell in ["bash", "zsh", "fish"] {
                let script = try Self.run("capsulectl", ["--generate-completion-script", shell])
                #expect(script.exitCode == 0 && script.stdout.contains("---completion"), "\(shell)")
            }
            let home = ["CAPSULE_HOME": cluster.home.path]
            let services = try Self.run(
                "capsulectl",
                [
                    "---completion", "service", "show", "--", "positional@0", "3", "0", "capsulectl", "service", "show",
                    "",
                ],
                environment: home
            )
            #expect(
                services.stdout.split(separator: "\n").contains("billing-bridge"),
                "\(services.stdout) \(services.stderr)"
            )
            let actions = try Self.run(
                "capsulectl",
                [
                    "---completion", "action", "run", "--", "positional@1", "4", "2",
                    "capsulectl", "action", "run", "billing-bridge", "fl",
                ],
                environment: home
            )
            #expect(actions.stdout.split(separator: "\n") == ["flush-cache"], "\(actions.stdout) \(actions.stderr)")

            // --version on every executable: version, commit (or "commit unknown"), protocol and schema.
            for (executable, schema) in [
                ("capsule-broker", "broker store schema v4"), ("capsule-aggregator", "aggregator store schema v3"),
                ("capsule-audit", "audit store schema v2"), ("capsule-agent", nil), ("capsule-demo-service", nil),
                ("capsulectl", nil),
            ] {
                let version = try Self.run(executable, ["--version"])
                #expect(version.exitCode == 0, "\(executable)")
                #expect(
                    version.stdout.hasPrefix("\(executable) \(CapsuleVersion.current) (commit "),
                    "\(executable): \(version.stdout)"
                )
                #expect(version.stdout.contains("protocol v\(WireCodec.version)"))
                if let schema { #expect(version.stdout.contains(schema), "\(executable): \(version.stdout)") }
                let help = try Self.run(executable, ["--help"])
                #expect(
                    help.exitCode == 0 && help.stdout.hasPrefix("OVERVIEW:") && help.stderr.isEmpty,
                    "\(executable) --help: \(help.stderr)"
                )
            }
            // And daemons' usage errors are one line with exit code 2.
            let bad = try Self.run("capsule-broker", ["--metrics-bind", "nowhere"])
            #expect(bad.exitCode == 2 && bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
            let badConfig = cluster.home.appendingPathComponent("bad.yaml")
            try Data("log-levle: debug\n".utf8).write(to: badConfig)
            let config = try Self.run("capsule-aggregator", ["--config", badConfig.path])
            #expect(config.exitCode == 2 && config.stderr.contains("did you mean log-level"), "\(config.stderr)")
        }
    }
}
