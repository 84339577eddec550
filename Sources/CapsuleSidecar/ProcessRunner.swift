import Foundation
import Synchronization

/// What an argv run produced.
package struct ProcessOutcome: Sendable, Hashable {
    package var exitCode: Int32?
    package var stdout: String
    package var stderr: String
    package var timedOut: Bool
    package var launchError: String?
}

/// Runs an argv array (never a shell string) with a timeout, capturing at most 64 KiB per stream.
package enum ProcessRunner {
    package static let outputCap = 64 * 1024

    package static func run(
        _ argv: [String],
        stdin: Data? = nil,
        environment: [String: String] = [:],
        timeoutSeconds: Double
    ) async -> ProcessOutcome {
        guard let program = argv.first else {
            return ProcessOutcome(exitCode: nil, stdout: "", stderr: "", timedOut: false, launchError: "empty argv")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: resolve(program))
        process.arguments = Array(argv.dropFirst())
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        let finished = Once()
        return await withCheckedContinuation { (continuation: CheckedContinuation<ProcessOutcome, Never>) in
            let collected = Collected()
            let group = DispatchGroup()
            for (pipe, isOut) in [(out, true), (err, false)] {
                group.enter()
                DispatchQueue.global().async {
                    var data = Data()
                    while true {
                        let chunk = pipe.fileHandleForReading.availableData
                        if chunk.isEmpty { break }
                        if data.count < outputCap { data.append(chunk.prefix(outputCap - data.count)) }
                    }
                    collected.set(data, isOut: isOut)
                    group.leave()
                }
            }
            process.terminationHandler = { process in
                group.notify(queue: .global()) {
                    let (stdout, stderr) = collected.value
                    finished.run {
                        continuation.resume(returning: ProcessOutcome(
                            exitCode: process.terminationStatus, stdout: stdout, stderr: stderr,
                            timedOut: collected.timedOut, launchError: nil))
                    }
                }
            }
            do {
                try process.run()
            } catch {
                finished.run {
                    continuation.resume(returning: ProcessOutcome(
                        exitCode: nil, stdout: "", stderr: "", timedOut: false, launchError: "cannot start \(program): \(error.localizedDescription)"))
                }
                try? out.fileHandleForWriting.close()
                try? err.fileHandleForWriting.close()
                return
            }
            // The program may exit without reading stdin: with SIGPIPE ignored the write just fails.
            signal(SIGPIPE, SIG_IGN)
            if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
            try? input.fileHandleForWriting.close()
            DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds) {
                if process.isRunning {
                    collected.markTimedOut()
                    process.terminate()
                    DispatchQueue.global().asyncAfter(deadline: .now() + 2) {
                        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                    }
                }
            }
        }
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

    private final class Collected: Sendable {
        private let state = Mutex<(out: Data, err: Data, timedOut: Bool)>((Data(), Data(), false))
        func set(_ data: Data, isOut: Bool) { state.withLock { if isOut { $0.out = data } else { $0.err = data } } }
        func markTimedOut() { state.withLock { $0.timedOut = true } }
        var timedOut: Bool { state.withLock { $0.timedOut } }
        var value: (String, String) {
            state.withLock { (String(decoding: $0.out, as: UTF8.self), String(decoding: $0.err, as: UTF8.self)) }
        }
    }

    private final class Once: Sendable {
        private let done = Mutex(false)
        func run(_ body: () -> Void) {
            let first = done.withLock { done in
                defer { done = true }
                return !done
            }
            if first { body() }
        }
    }
}
