import CapsuleDomain
import Foundation

/// Issue 11's memory targets: the Swift SDK's RSS over a bare Swift process (≤ +5 MiB), and the
/// sidecar's RSS (≤ 15 MiB). For each build directory it starts `capsule-bare` (the baseline, built with
/// the same flags), `capsule-sdk-service` (the same process with the SDK product embedded, one service)
/// and `capsule-agent` (the sidecar, one service from a manifest) against the bench's broker and aggregator, enrols both with real tokens,
/// lets them heartbeat every second and reads each process's memory twice, `seconds` apart.
enum MemoryCost {
    /// One process's memory, in KiB, from `/proc/<pid>/status` (VmRSS) and `/proc/<pid>/smaps_rollup`.
    struct Reading {
        var rss = 0
        /// Proportional set size: shared pages divided among the processes that map them.
        var pss = 0
        /// Pages only this process maps (Private_Clean + Private_Dirty): what one more copy adds to a host.
        var privateKiB = 0

        init(pid: Int32) {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let rollup = (try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)) ?? ""
            rss = Self.field("VmRSS:", in: status)
            pss = Self.field("Pss:", in: rollup)
            privateKiB = Self.field("Private_Clean:", in: rollup) + Self.field("Private_Dirty:", in: rollup)
        }

        private static func field(_ name: String, in text: String) -> Int {
            for line in text.split(separator: "\n") where line.hasPrefix(name) {
                return Int(line.dropFirst(name.count).split(whereSeparator: \.isWhitespace).first ?? "") ?? 0
            }
            return 0
        }
    }

    /// The three processes of one build, read twice.
    struct Build {
        var label: String
        var bare: [Reading]
        var sdk: [Reading]
        var sidecar: [Reading]
        /// The size of each executable on disk, in bytes.
        var sizes: (bare: Int, sdk: Int, sidecar: Int)
    }

    static let tools = ["capsule-bare", "capsule-sdk-service", "capsule-agent"]

    static func measure(
        cluster: BenchCluster,
        builds: [(label: String, directory: URL)],
        seconds: Double
    ) throws
        -> [Build]
    {
        let client = try OperatorClient(home: cluster.capsuleHome)
        var results: [Build] = []
        for (index, build) in builds.enumerated() {
            for tool in tools
            where !FileManager.default.isExecutableFile(atPath: build.directory.appendingPathComponent(tool).path) {
                throw BenchError("\(tool) not found in \(build.directory.path); Benchmarks/run.sh builds it")
            }
            // One service code per build: a code belongs to the agent that first reported it.
            let manifest = cluster.home.appendingPathComponent("memory-worker-\(index).yaml")
            try """
            code: memory-worker-\(index)
            name: Memory worker
            version: 1.0.0
            runtime: shell
            health:
              type: command
              argv: ["/bin/true"]
              timeoutSeconds: 2
            actions:
              - name: noop
                label: No-op
                argv: ["/bin/true"]
                timeoutSeconds: 5
            """.write(to: manifest, atomically: true, encoding: .utf8)
            let servicesBefore = try services(client)
            let bare = try cluster.launch("bare-\(index)", "capsule-bare", [], from: build.directory)
            let sdk = try cluster.launch(
                "sdk-\(index)",
                "capsule-sdk-service",
                [cluster.home.path, "memory-sdk-\(index)", try cluster.mintToken(name: "memory-sdk-\(index)"), "1"],
                from: build.directory
            )
            let sidecar = try cluster.launch(
                "sidecar-\(index)",
                "capsule-agent",
                [
                    "--home", cluster.home.path, "--manifest", manifest.path, "--agent-code", "memory-sidecar-\(index)",
                    "--heartbeat-seconds", "1", "--token", try cluster.mintToken(name: "memory-sidecar-\(index)"),
                ],
                from: build.directory
            )
            defer {
                for process in [bare, sdk, sidecar] where process.isRunning {
                    kill(process.processIdentifier, SIGTERM)
                    process.waitUntilExit()
                }
            }
            try cluster.waitFor("the \(build.label) SDK service and sidecar to report", seconds: 30) {
                for (name, process) in [("sdk-\(index)", sdk), ("sidecar-\(index)", sidecar)] where !process.isRunning {
                    throw BenchError("\(name) exited (status \(process.terminationStatus)); log: \(cluster.tail(name))")
                }
                return try services(client) >= servicesBefore + 2
            }
            var readings: [[Reading]] = [[], [], []]
            for round in 0..<2 {
                Thread.sleep(forTimeInterval: round == 0 ? 2 : seconds)
                for (slot, process) in [bare, sdk, sidecar].enumerated() {
                    readings[slot].append(Reading(pid: process.processIdentifier))
                }
            }
            let size = { (tool: String) -> Int in
                var info = stat()
                return stat(build.directory.appendingPathComponent(tool).path, &info) == 0 ? Int(info.st_size) : 0
            }
            results.append(
                Build(
                    label: build.label,
                    bare: readings[0],
                    sdk: readings[1],
                    sidecar: readings[2],
                    sizes: (size("capsule-bare"), size("capsule-sdk-service"), size("capsule-agent"))
                )
            )
        }
        return results
    }

    /// Its own broker and aggregator, then `measure` and `lines`: the memory section of a run, or `capsule-bench memory`.
    static func run(
        bin: URL,
        builds: [(label: String, directory: URL)],
        seconds: Double,
        keepHome: Bool
    ) throws
        -> [String]
    {
        let cluster = try BenchCluster(bin: bin, keepHome: keepHome)
        defer { cluster.stop() }
        progress("memory: starting capsule-broker and capsule-aggregator (home \(cluster.home.path))")
        try cluster.start()
        let client = try OperatorClient(home: cluster.capsuleHome)
        try cluster.waitFor("the aggregator to answer status.summary", seconds: 30) {
            (try? client.call("aggregator", "status.summary")) != nil
        }
        for build in builds {
            progress("memory: bare process, SDK and sidecar of \(build.label) (\(build.directory.path))")
        }
        return lines(try measure(cluster: cluster, builds: builds, seconds: seconds), seconds: seconds)
    }

    /// `capsule-bench memory [--bin DIR] [--build LABEL=DIR]… [--seconds S] [--keep-home]`.
    static func main(_ arguments: [String]) throws {
        var bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var builds: [(label: String, directory: URL)] = []
        var seconds = 10.0
        var keepHome = false
        var index = 0
        func value() throws -> String {
            index += 1
            guard index < arguments.count else { throw BenchError("\(arguments[index - 1]) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--bin": bin = URL(fileURLWithPath: try value(), isDirectory: true)
            case "--build": builds.append(try build(try value()))
            case "--seconds":
                guard let parsed = Double(try value()), parsed >= 1 else {
                    throw BenchError("--seconds needs a number ≥ 1")
                }
                seconds = parsed
            case "--keep-home": keepHome = true
            default:
                throw BenchError(
                    "unknown argument \(arguments[index]); usage: capsule-bench memory [--bin DIR] [--build LABEL=DIR]… [--seconds S] [--keep-home]"
                )
            }
            index += 1
        }
        if builds.isEmpty { builds = [("this build", bin)] }
        print(try run(bin: bin, builds: builds, seconds: seconds, keepHome: keepHome).joined(separator: "\n"))
    }

    /// Parses `LABEL=DIR` (the label names a build in the report, e.g. `static=.build-bench-static/release`).
    static func build(_ text: String) throws -> (label: String, directory: URL) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex,
            text.index(after: equals) != text.endIndex
        else { throw BenchError("--build needs LABEL=DIR, e.g. static=.build-bench-static/release; got \(text)") }
        return (
            String(text[..<equals]), URL(fileURLWithPath: String(text[text.index(after: equals)...]), isDirectory: true)
        )
    }

    private static func services(_ client: OperatorClient) throws -> Int {
        try client.call("aggregator", "status.summary")["totalServices"]?.intValue ?? 0
    }

    /// The report's lines: RSS (PSS, private) per process at the last reading, the first beside it.
    static func lines(_ builds: [Build], seconds: Double) -> [String] {
        func mib(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
        func text(_ readings: [Reading]) -> String {
            let last = readings.last ?? Reading(pid: 0)
            return
                "RSS \(mib(last.rss)) (PSS \(mib(last.pss)), private \(mib(last.privateKiB)); \(mib(readings.first?.rss ?? 0)) \(Int(seconds)) s earlier)"
        }
        var lines = [
            "memory              VmRSS after 2 s and \(Int(seconds)) s more of heartbeats every 1 s; PSS and private from smaps_rollup (shared library pages are counted whole in RSS)"
        ]
        for build in builds {
            let bare = build.bare.last?.rss ?? 0
            let sdk = build.sdk.last?.rss ?? 0
            let sidecar = build.sidecar.last?.rss ?? 0
            let overBare = Double(sdk - bare) / 1024
            let size = { (bytes: Int) in String(format: "%.2f MB", Double(bytes) / 1e6) }
            lines.append("  \(build.label):")
            lines.append("    bare Swift process (Foundation, \(size(build.sizes.bare))) \(text(build.bare))")
            lines.append(
                "    SDK (capsule-sdk-service: the bare process with CapsuleAgentKit and one service, \(size(build.sizes.sdk))) \(text(build.sdk)): "
                    + String(format: "%+.1f MiB", overBare)
                    + " over the bare process; target ≤ +5 MiB [\(overBare <= 5 ? "met" : "missed")]"
            )
            lines.append(
                "    sidecar (capsule-agent, \(size(build.sizes.sidecar))) \(text(build.sidecar)); target ≤ 15 MiB [\(Double(sidecar) / 1024 <= 15 ? "met" : "missed")]"
            )
        }
        return lines
    }
}
