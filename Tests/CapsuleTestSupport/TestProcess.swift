package import CapsuleRuntime
package import Foundation

/// A child of a test, started through ``ChildProcess`` (posix_spawn keeping no other descriptor of
/// the test process) and reaped with `waitpid`. Foundation's `Process` learns that a child ended from
/// a socket the child inherits; a daemon of a test running beside it that inherits that socket too
/// (Foundation closes other descriptors in its children, but a spawn racing another can pass one on)
/// keeps the child "running" until the daemon ends, which stalls stops and capsulectl runs by a minute.
package final class TestProcess: @unchecked Sendable {
    /// What a program run to its end printed, and how it ended.
    package struct Output: Sendable {
        package var exitCode: Int32
        package var stdout: String
        package var stderr: String
    }

    package let processIdentifier: pid_t
    private let lock = NSLock()
    private var exit: ChildProcess.Exit?

    /// Starts `path` with stdin from /dev/null and stdout and stderr to `output`.
    package init(
        _ path: String,
        _ arguments: [String],
        environment: [String: String],
        output: String,
        append: Bool
    ) throws {
        let input = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let out = open(output, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
        defer { for fd in [input, out] where fd >= 0 { close(fd) } }
        guard input >= 0, out >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        do {
            processIdentifier = try ChildProcess.spawn(
                path,
                arguments,
                environment: environment,
                stdin: input,
                stdout: out,
                stderr: out
            )
        } catch {
            throw POSIXError(POSIXErrorCode(rawValue: error.errno) ?? .EIO)
        }
    }

    package var isRunning: Bool {
        lock.withLock {
            if exit == nil { exit = ChildProcess.poll(processIdentifier) }
            return exit == nil
        }
    }

    package func waitUntilExit() {
        while isRunning { Thread.sleep(forTimeInterval: 0.02) }
    }

    /// Waits at most `seconds` for the child to end; nil while it still runs.
    package func wait(seconds: Double) -> ChildProcess.Exit? {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return lock.withLock { exit }
    }

    /// The exit code, or the signal number for a child a signal ended (as `Process` reports it).
    package var terminationStatus: Int32 {
        waitUntilExit()
        return lock.withLock { exit?.code ?? -1 }
    }

    /// Runs a program to its end, its output captured through files (no pipe another child could hold).
    package static func run(_ path: String, _ arguments: [String], environment: [String: String]) throws -> Output {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("capsule-run-\(UUID().uuidString)")
            .path
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        let input = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let out = open(base + ".out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(base + ".err", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { for fd in [input, out, err] where fd >= 0 { close(fd) } }
        guard input >= 0, out >= 0, err >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let pid: pid_t
        do {
            pid = try ChildProcess.spawn(
                path,
                arguments,
                environment: environment,
                stdin: input,
                stdout: out,
                stderr: err
            )
        } catch {
            throw POSIXError(POSIXErrorCode(rawValue: error.errno) ?? .EIO)
        }
        let exit = ChildProcess.wait(pid)
        let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        return Output(exitCode: exit.code, stdout: stdout, stderr: stderr)
    }
}

/// A GET over a plain socket to 127.0.0.1 (the tests need no HTTP client): the status (0 when
/// nothing answered) and the body.
package enum LoopbackHTTP {
    package static func get(port: Int, path: String, timeoutSeconds: Int = 30) throws -> (status: Int, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            data += buffer.prefix(count)
        }
        let text = String(decoding: data, as: UTF8.self)
        let status = Int(text.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }
}
