import CapsuleRuntime
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
        let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }
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
        for _ in 0..<5 where !FileManager.default.fileExists(atPath: url.appendingPathComponent("capsule-broker").path) {
            url = url.deletingLastPathComponent()
        }
        return url
    }()

    @Test(.enabled(if: NetnsEndToEndTests.canRun, "needs root and ip netns: skipped"))
    func separateHostsBehindNAT() async throws {
        try await blocking {
            let script = Self.repositoryRoot.appendingPathComponent("deploy/netns/netns-e2e.sh")
            try #require(FileManager.default.fileExists(atPath: script.path), "missing \(script.path)")
            try #require(FileManager.default.fileExists(atPath: Self.binDirectory.appendingPathComponent("capsule-broker").path),
                         "no capsule-broker next to the test binary (looked in \(Self.binDirectory.path))")

            // Output goes to a file, not a pipe: nothing the script leaves behind can hold the test up.
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("netns-e2e-\(UUID().uuidString.prefix(8)).log")
            defer { try? FileManager.default.removeItem(at: output) }
            var environment = ProcessInfo.processInfo.environment
            environment["CAPSULE_BIN"] = Self.binDirectory.path
            let pid = try Self.spawn(["/bin/bash", script.path], environment: environment, output: output.path)

            // The script bounds itself (a watchdog at 170 s); this is the backstop.
            var status = Self.wait(pid, seconds: 240)
            let timedOut = status == nil
            if timedOut {
                kill(pid, SIGTERM)   // the script's trap stops its processes and removes the namespaces
                status = Self.wait(pid, seconds: 30)
                if status == nil {
                    kill(pid, SIGKILL)
                    status = Self.wait(pid, seconds: 5)
                }
            }

            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            print(text)   // the timeline, in the CI log
            let lastLine = text.split(separator: "\n").last.map(String.init) ?? ""
            #expect(!timedOut, "netns-e2e.sh did not finish within 240 s")
            #expect(status == .exited(0), "netns-e2e.sh ended with \(status.map { "\($0)" } ?? "no status")")
            #expect(lastLine == "netns-e2e: PASSED", "last line: \(lastLine)")
        }
    }

    // MARK: - Child processes without Foundation.Process

    enum Termination: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)
        var description: String {
            switch self {
            case .exited(let code): "exit status \(code)"
            case .signalled(let signal): "signal \(signal)"
            }
        }
    }

    /// Starts `argv` with an empty signal mask and default signal handling, stdin from /dev/null
    /// and stdout + stderr to `output` (or /dev/null), keeping no other descriptor of this process
    /// (``ChildProcess``): the script's daemons run for a minute or more, and must not hold the
    /// sockets through which Foundation's `Process` sees other tests' children exit.
    static func spawn(_ argv: [String], environment: [String: String], output: String?) throws -> pid_t {
        let input = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let out = open(output ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { for fd in [input, out] where fd >= 0 { close(fd) } }
        guard input >= 0, out >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        do {
            return try ChildProcess.spawn(argv[0], Array(argv.dropFirst()), environment: environment, stdin: input, stdout: out, stderr: out)
        } catch {
            throw POSIXError(POSIXErrorCode(rawValue: error.errno) ?? .EIO)
        }
    }

    /// Polls `waitpid` for at most `seconds`; nil if the child is still running.
    static func wait(_ pid: pid_t, seconds: Double) -> Termination? {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                return (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
            }
            if reaped < 0 && errno != EINTR { return .exited(-1) }
            Thread.sleep(forTimeInterval: 0.2)
        } while Date() < deadline
        return nil
    }

    static func runQuietly(_ argv: [String]) -> Int32 {
        guard let pid = try? spawn(argv, environment: ProcessInfo.processInfo.environment, output: nil),
            let termination = wait(pid, seconds: 30)
        else { return -1 }
        return termination == .exited(0) ? 0 : 1
    }
}
