import CapsuleRuntime
package import Foundation

/// What an argv run produced.
package struct ProcessOutcome: Sendable, Hashable {
    package var exitCode: Int32?
    package var stdout: String
    package var stderr: String
    package var timedOut: Bool
    package var launchError: String?
}

/// Runs an argv array (never a shell string) with a timeout, capturing at most 64 KiB per stream.
///
/// Each run gets a thread of its own that feeds stdin and reads both outputs through `poll`, so a
/// program that never reads its input, never closes its output or never exits blocks nothing else:
/// no thread of Swift concurrency's pool ever waits on a pipe. The program runs in a process group
/// of its own; the timeout stops the whole group (SIGTERM, then SIGKILL 2 s later). Once the program
/// has exited, its output is read for at most ``outputGrace``, so a background process it left
/// running (or anything else holding its pipes) cannot keep the run open. Pipes are close-on-exec
/// and the child keeps no other descriptor of ours (``ChildProcess``).
package enum ProcessRunner {
    package static let outputCap = 64 * 1024
    /// How long output is still read after the program exited, when its pipes stay open.
    package static let outputGrace: TimeInterval = 0.5

    package static func run(
        _ argv: [String],
        stdin: Data? = nil,
        environment: [String: String] = [:],
        timeoutSeconds: Double
    ) async -> ProcessOutcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<ProcessOutcome, Never>) in
            let thread = Thread {
                continuation.resume(
                    returning: runBlocking(argv, stdin: stdin, environment: environment, timeoutSeconds: timeoutSeconds)
                )
            }
            thread.name = "capsule-process"
            thread.start()
        }
    }

    /// The run itself, on the calling thread.
    static func runBlocking(
        _ argv: [String],
        stdin: Data?,
        environment: [String: String],
        timeoutSeconds: Double
    ) -> ProcessOutcome {
        guard let program = argv.first else { return failure("empty argv") }
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let path = resolve(program)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            return failure("cannot start \(program): no executable file at \(path)")
        }
        guard let out = PipePair(), let err = PipePair(), let input = PipePair() else {
            return failure("cannot start \(program): no pipe (\(String(cString: strerror(errno))))")
        }
        // The program may exit without reading stdin: with SIGPIPE ignored here the write just fails
        // (the child gets the default disposition back).
        signal(SIGPIPE, SIG_IGN)
        let pid: pid_t
        do {
            pid = try ChildProcess.spawn(
                path,
                Array(argv.dropFirst()),
                environment: env,
                stdin: input.read,
                stdout: out.write,
                stderr: err.write,
                newProcessGroup: true
            )
        } catch {
            for fd in [out.read, out.write, err.read, err.write, input.read, input.write] { close(fd) }
            return failure(error.description)
        }
        close(out.write)
        close(err.write)
        close(input.read)
        var io = PipeIO(stdout: out.read, stderr: err.read, stdin: input.write, input: stdin ?? Data())
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var timedOut = false
        var killAt: Date?
        var exit: ChildProcess.Exit?
        var exitedAt: Date?
        while true {
            let now = Date()
            if exit == nil, let ended = ChildProcess.poll(pid) {
                exit = ended
                exitedAt = now
                io.closeInput()
            }
            if let exitedAt {
                if io.outputsClosed || now.timeIntervalSince(exitedAt) >= outputGrace { break }
            } else if let due = killAt {
                if now >= due {
                    kill(-pid, SIGKILL)
                    killAt = .distantFuture
                }
            } else if now >= deadline {
                // The whole group: what the program started goes with it.
                timedOut = true
                kill(-pid, SIGTERM)
                killAt = now.addingTimeInterval(2)
            }
            io.pump(timeoutMilliseconds: 20)
        }
        io.closeAll()
        return ProcessOutcome(
            exitCode: exit?.code,
            stdout: String(decoding: io.stdoutData, as: UTF8.self),
            stderr: String(decoding: io.stderrData, as: UTF8.self),
            timedOut: timedOut,
            launchError: nil
        )
    }

    private static func failure(_ reason: String) -> ProcessOutcome {
        ProcessOutcome(exitCode: nil, stdout: "", stderr: "", timedOut: false, launchError: reason)
    }

    /// Resolves a bare program name through PATH; paths are used as given.
    static func resolve(_ program: String) -> String {
        if program.contains("/") { return program }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return program
    }
}

/// One pipe, both ends close-on-exec.
private struct PipePair {
    let read: Int32
    let write: Int32

    init?() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        read = fds[0]
        write = fds[1]
    }
}

/// The parent's ends of a child's three pipes, non-blocking, moved along by `poll`.
private struct PipeIO {
    private var stdout: Int32?
    private var stderr: Int32?
    private var stdin: Int32?
    private let input: Data
    private var written = 0
    private(set) var stdoutData = Data()
    private(set) var stderrData = Data()

    init(stdout: Int32, stderr: Int32, stdin: Int32, input: Data) {
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.input = input
        for fd in [stdout, stderr, stdin] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if input.isEmpty { closeInput() }
    }

    var outputsClosed: Bool { stdout == nil && stderr == nil }

    mutating func closeInput() {
        if let stdin { close(stdin) }
        stdin = nil
    }

    mutating func closeAll() {
        closeInput()
        if let stdout { close(stdout) }
        if let stderr { close(stderr) }
        stdout = nil
        stderr = nil
    }

    /// Waits up to `timeoutMilliseconds` for any pipe to be ready, then reads and writes what it can.
    mutating func pump(timeoutMilliseconds: Int32) {
        var fds: [pollfd] = []
        if let stdout { fds.append(pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)) }
        if let stderr { fds.append(pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)) }
        if let stdin { fds.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
        guard !fds.isEmpty else {
            usleep(UInt32(timeoutMilliseconds) * 1000)
            return
        }
        guard poll(&fds, nfds_t(fds.count), timeoutMilliseconds) > 0 else { return }
        for entry in fds where entry.revents != 0 {
            if entry.fd == stdout {
                if !Self.drain(entry.fd, into: &stdoutData) {
                    close(entry.fd)
                    stdout = nil
                }
            } else if entry.fd == stderr {
                if !Self.drain(entry.fd, into: &stderrData) {
                    close(entry.fd)
                    stderr = nil
                }
            } else if entry.fd == stdin {
                feed(entry.fd)
            }
        }
    }

    /// Reads what is there (keeping at most the cap); false at end of file or on an error.
    private static func drain(_ fd: Int32, into data: inout Data) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                let room = ProcessRunner.outputCap - data.count
                if room > 0 { data.append(contentsOf: buffer.prefix(min(room, count))) }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return true }
            return false
        }
    }

    /// Writes what the pipe takes; closes stdin once everything is written or the reader has gone.
    private mutating func feed(_ fd: Int32) {
        while written < input.count {
            let offset = written
            let count = input.withUnsafeBytes { bytes in
                write(fd, bytes.baseAddress!.advanced(by: offset), input.count - offset)
            }
            if count > 0 {
                written += count
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
            break  // EPIPE: the program exited or closed its input without reading it all
        }
        closeInput()
    }
}
