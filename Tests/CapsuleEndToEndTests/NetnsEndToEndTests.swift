import CapsuleRuntime
import CapsuleTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Capsule across separate hosts and a NAT: runs `deploy/netns/netns-e2e.sh`, which puts the broker,
/// the aggregator, the audit writer and two agents in their own network namespaces (the agents on a
/// private LAN behind a masquerading router), cuts the site's uplink and checks that nothing ever
/// dials into the site. Needs root (network namespaces, veths, iptables inside the namespaces); it
/// is skipped otherwise. The namespaces (`cap-*`) and addresses are private to this test, so it does
/// not collide with the loopback end-to-end tests running beside it.
///
/// The script is started with `posix_spawn` rather than `Process`: a child inherits its parent
/// thread's signal mask, and Swift concurrency threads block SIGTERM, SIGCHLD and most others, so the
/// child gets a clean mask and default dispositions here. The test reaps it with its own `waitpid`.
@Suite(.serialized)
struct NetnsEndToEndTests {
    /// Root, and network namespaces can actually be created here (not, say, in an unprivileged container).
    static let canRun: Bool = {
        guard getuid() == 0 else { return false }
        let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let ip else {
            // No iproute2 yet: the script installs it with apt-get.
            return FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get")
        }
        let probe = "capsule-probe-\(getpid())"
        guard runQuietly([ip, "netns", "add", probe]) == 0 else { return false }
        _ = runQuietly([ip, "netns", "del", probe])
        return true
    }()

    /// The repository root, from this file's path (Tests/CapsuleEndToEndTests/<file>).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The directory holding the built executables: this test binary's directory or one above it.
    static let binDirectory: URL = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 where !FileManager.default.fileExists(atPath: url.appendingPathComponent("capsule-broker").path)
        {
            url = url.deletingLastPathComponent()
        }
        return url
    }()

    @Test(.enabled(if: NetnsEndToEndTests.canRun, "needs root and ip netns: skipped"))
    func separateHostsBehindNAT() async throws {
        try await blocking {
            let script = Self.repositoryRoot.appendingPathComponent("deploy/netns/netns-e2e.sh")
            try #require(FileManager.default.fileExists(atPath: script.path), "missing \(script.path)")
            try #require(
                FileManager.default.fileExists(atPath: Self.binDirectory.appendingPathComponent("capsule-broker").path),
                "no capsule-broker next to the test binary (looked in \(Self.binDirectory.path))"
            )

            // Output goes to a file, not a pipe: nothing the script leaves behind can hold the test up.
            let output = FileManager.default.temporaryDirectory.appendingPathComponent(
                "netns-e2e-\(UUID().uuidString.prefix(8)).log"
            )
            defer { try? FileManager.default.removeItem(at: output) }
            var environment = ProcessInfo.processInfo.environment
            environment["CAPSULE_BIN"] = Self.binDirectory.path
            // The script's daemons run for a minute or more: started through ChildProcess, they keep
            // no descriptor of this process (see TestProcess).
            let run = try TestProcess(
                "/bin/bash",
                [script.path],
                environment: environment,
                output: output.path,
                append: false
            )
            let pid = run.processIdentifier

            // The script bounds itself (a watchdog at 170 s); this is the backstop.
            var status = run.wait(seconds: 240)
            let timedOut = status == nil
            if timedOut {
                kill(pid, SIGTERM)  // the script's trap stops its processes and removes the namespaces
                status = run.wait(seconds: 30)
                if status == nil {
                    kill(pid, SIGKILL)
                    status = run.wait(seconds: 5)
                }
            }

            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            print(text)  // the timeline, in the CI log
            let lastLine = text.split(separator: "\n").last.map(String.init) ?? ""
            #expect(!timedOut, "netns-e2e.sh did not finish within 240 s")
            #expect(status == .exited(0), "netns-e2e.sh ended with \(status.map { "\($0)" } ?? "no status")")
            #expect(lastLine == "netns-e2e: PASSED", "last line: \(lastLine)")
        }
    }

    static func runQuietly(_ argv: [String]) -> Int32 {
        guard
            let output = try? TestProcess.run(
                argv[0],
                Array(argv.dropFirst()),
                environment: ProcessInfo.processInfo.environment
            )
        else { return -1 }
        return output.exitCode == 0 ? 0 : 1
    }
}
