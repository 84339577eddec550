import CapsuleAgentKit
import CapsuleDomain
import CapsuleSidecar
import Foundation
import Testing

struct SidecarActionTests {
    @Test func placeholdersBecomeSingleArgumentsNeverShellWords() {
        let argv = Sidecar.substitute(
            ["/bin/echo", "${payload.name}", "--n", "${payload.count}", "${payload.missing}"],
            payload: .object(["name": .string("a; rm -rf /"), "count": .number(3)])
        )
        #expect(argv == .success(["/bin/echo", "a; rm -rf /", "--n", "3", ""]))
    }

    /// A value that starts with `-` could be read as an option; only after `--` is it taken as is.
    @Test func aValueThatLooksLikeAnOptionIsRefusedUnlessAfterDoubleDash() {
        let refused = Sidecar.substitute(
            ["/usr/bin/rm", "${payload.file}"],
            payload: .object(["file": .string("-rf")])
        )
        guard case .failure(let refusal) = refused else {
            Issue.record("-rf must not reach rm as an option")
            return
        }
        #expect(refusal.message.contains("starts with '-'"))
        #expect(refusal.message.contains("\"--\""))
        let taken = Sidecar.substitute(
            ["/usr/bin/rm", "--", "${payload.file}"],
            payload: .object(["file": .string("-rf")])
        )
        #expect(taken == .success(["/usr/bin/rm", "--", "-rf"]))
    }

    @Test func runsArgvAndMapsTheOutcome() async {
        let ok = await ProcessRunner.run(
            ["/bin/sh", "-c", "echo '{\"message\":\"done\",\"n\":2}'"],
            timeoutSeconds: 10
        )
        let result = Sidecar.result(ok)
        #expect(result.success)
        #expect(result.message == "done")
        #expect(result.data?["n"] == .number(2))

        let failing = await ProcessRunner.run(["/bin/sh", "-c", "echo oops >&2; exit 3"], timeoutSeconds: 10)
        let failed = Sidecar.result(failing)
        #expect(!failed.success)
        #expect(failed.errorCode == "exit_3")
        #expect(failed.errorMessage == "oops")
    }

    @Test func payloadArrivesOnStdinAndInTheEnvironment() async {
        let outcome = await ProcessRunner.run(
            ["/bin/sh", "-c", "cat; printf ' %s' \"$CAPSULE_PAYLOAD\""],
            stdin: Data(#"{"a":1}"#.utf8),
            environment: ["CAPSULE_PAYLOAD": #"{"a":1}"#],
            timeoutSeconds: 10
        )
        #expect(outcome.stdout == #"{"a":1} {"a":1}"#)
    }

    @Test func aHungProcessIsStoppedAtItsTimeout() async {
        let outcome = await ProcessRunner.run(["/bin/sleep", "30"], timeoutSeconds: 0.3)
        #expect(outcome.timedOut)
        #expect(Sidecar.result(outcome).errorCode == "timeout")
    }

    @Test func aMissingProgramIsALaunchError() async {
        let outcome = await ProcessRunner.run(["/nonexistent/program"], timeoutSeconds: 5)
        #expect(outcome.launchError != nil)
        #expect(Sidecar.result(outcome).errorCode == "launch_failed")
    }

    @Test(arguments: [(0, HealthStatus.up), (1, .degraded), (2, .down), (7, .unknown)])
    func commandProbeMapsExitCodes(code: Int, expected: HealthStatus) async {
        let report = await HealthProbe.check(
            .command(argv: ["/bin/sh", "-c", "echo state; exit \(code)"], timeoutSeconds: 5)
        )
        #expect(report.status == expected)
        #expect(report.message == "state")
    }

    /// A loopback TCP socket bound to a fresh port, listening or not; returns the descriptor and port.
    private func boundSocket(listening: Bool) -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        if listening { _ = listen(fd, 4) }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test func tcpProbeSeesAListenerAndItsAbsence() async throws {
        let (listener, open) = boundSocket(listening: true)
        defer { close(listener) }
        #expect(await HealthProbe.check(.tcp(host: "127.0.0.1", port: open, timeoutSeconds: 2)).status == .up)
        // Bound but not listening: the port is ours, so nothing else can answer on it.
        let (silent, closed) = boundSocket(listening: false)
        defer { close(silent) }
        #expect(await HealthProbe.check(.tcp(host: "127.0.0.1", port: closed, timeoutSeconds: 2)).status == .down)
    }

    /// On a thread of its own: accepts one connection on `listener`, reads what it sends first, and
    /// answers `response` whatever it was.
    private func answerOnce(_ listener: Int32, with response: String) {
        Thread {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            var request = [UInt8](repeating: 0, count: 4096)
            _ = recv(client, &request, request.count, 0)
            _ = response.utf8CString.withUnsafeBufferPointer { send(client, $0.baseAddress, $0.count - 1, 0) }
            close(client)
        }.start()
    }

    @Test func httpProbeWithNoServerIsDown() async {
        let report = await HealthProbe.check(.http(url: "http://127.0.0.1:1/health", timeoutSeconds: 2))
        #expect(report.status == .down)
    }

    @Test func httpsProbeWithNoServerIsDown() async {
        let report = await HealthProbe.check(.http(url: "https://127.0.0.1:1/health", timeoutSeconds: 2))
        #expect(report.status == .down)
        #expect(
            report.message?.hasPrefix("no answer from https://127.0.0.1:1/health") == true,
            "\(report.message ?? "nil")"
        )
    }

    /// An https probe speaks TLS: a listener that answers in plain HTTP is no healthy answer.
    @Test func httpsProbeRefusesAPlainTextAnswer() async {
        let (listener, port) = boundSocket(listening: true)
        defer { close(listener) }
        answerOnce(listener, with: "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhealthy")
        let report = await HealthProbe.check(.http(url: "https://127.0.0.1:\(port)/health", timeoutSeconds: 3))
        #expect(report.status == .down, "\(report.message ?? "nil")")
    }

    /// A real listener answers one request with `response`; the probe maps the status line to health.
    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhealthy", HealthStatus.up, "HTTP 200: healthy"),
        ("HTTP/1.0 503 Service Unavailable\r\n\r\ndraining", .down, "HTTP 503: draining"),
        ("HTTP/1.1 404 Not Found\r\n\r\n", .degraded, "HTTP 404"),
        ("garbage without a status line\r\n\r\n", .down, "not an HTTP answer"),
    ])
    func httpProbeReadsTheStatusLine(response: String, expected: HealthStatus, message: String) async {
        let (listener, port) = boundSocket(listening: true)
        defer { close(listener) }
        answerOnce(listener, with: response)
        let report = await HealthProbe.check(.http(url: "http://127.0.0.1:\(port)/health", timeoutSeconds: 3))
        #expect(report.status == expected)
        #expect(report.message?.hasPrefix(message) == true, "\(report.message ?? "nil")")
    }
}

struct SidecarStdinTests {
    /// A program that exits without reading its stdin must not take the agent down with SIGPIPE.
    @Test func aProgramThatIgnoresStdinDoesNotKillTheAgent() async {
        let big = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        let outcome = await ProcessRunner.run(["/bin/true"], stdin: big, timeoutSeconds: 10)
        #expect(outcome.exitCode == 0)
        #expect(Sidecar.result(outcome).success)
    }
}

struct ProcessRunnerPipeTests {
    /// A program that leaves a background process holding its output ends when it exits; the run
    /// does not wait for that process (it would never end).
    @Test func aBackgroundProcessHoldingTheOutputDoesNotKeepTheRunOpen() async {
        let outcome = await ProcessRunner.run(["/bin/sh", "-c", "echo started; sleep 30 & exit 0"], timeoutSeconds: 10)
        #expect(outcome.exitCode == 0)
        #expect(outcome.stdout == "started\n")
        #expect(!outcome.timedOut)
    }

    /// A program that never reads a large stdin and never exits is stopped by its timeout; the
    /// write into its full pipe never blocks the run.
    @Test func aProgramThatNeverReadsALargeInputStillTimesOut() async {
        let big = Data(repeating: UInt8(ascii: "y"), count: 4 << 20)
        let outcome = await ProcessRunner.run(["/bin/sleep", "30"], stdin: big, timeoutSeconds: 0.5)
        #expect(outcome.timedOut)
        #expect(outcome.exitCode != 0)
    }

    /// Output over the cap is read to the end (the program is never blocked on a full pipe) and kept
    /// up to the cap.
    @Test func outputOverTheCapIsDrainedAndCut() async {
        let outcome = await ProcessRunner.run(
            ["/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\\\0' 'z'; echo done >&2"],
            timeoutSeconds: 10
        )
        #expect(outcome.exitCode == 0)
        #expect(outcome.stdout.utf8.count == ProcessRunner.outputCap)
        #expect(outcome.stderr == "done\n")
    }

    /// Runs started together do not inherit each other's pipes: a long-lived program started while
    /// another run feeds a large stdin does not keep that run's input open.
    @Test func concurrentRunsDoNotInheritEachOthersPipes() async {
        let big = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        async let quick = ProcessRunner.run(["/bin/true"], stdin: big, timeoutSeconds: 10)
        async let slow = ProcessRunner.run(["/bin/sleep", "3"], timeoutSeconds: 10)
        let first = await quick
        #expect(first.exitCode == 0 && !first.timedOut)
        _ = await slow
    }
}
