package import ArgumentParser
import CapsuleProtocol
import CapsuleRuntime
import Foundation
import Yams

/// Merges a daemon's three sources of settings into one argument list for swift-argument-parser:
/// command-line flags win over environment variables (`CAPSULE_<FLAG_IN_UPPER_SNAKE>`), which win over
/// the config file (`--config FILE`, YAML or JSON, keys are the long flag names without `--`).
package enum ConfigArguments {
    /// The merged arguments, and where the config file's part came from (so a parse error can name the
    /// file and the key).
    package struct Resolved: Sendable, Equatable {
        package var arguments: [String]
        package var configFile: String?
        package var configFlags: [String]
    }

    /// - Parameters:
    ///   - arguments: the command line, without the program name.
    ///   - knownFlags: the long flag names the command accepts (see ``knownFlags(in:)``).
    package static func resolve(
        _ arguments: [String],
        environment: [String: String],
        knownFlags: Set<String>,
        repeatableFlags: Set<String> = []
    ) throws -> [String] {
        try resolved(arguments, environment: environment, knownFlags: knownFlags, repeatableFlags: repeatableFlags)
            .arguments
    }

    /// Like ``resolve(_:environment:knownFlags:repeatableFlags:)``, with the config file's provenance.
    package static func resolved(
        _ arguments: [String],
        environment: [String: String],
        knownFlags: Set<String>,
        repeatableFlags: Set<String> = []
    ) throws -> Resolved {
        var given = Set<String>()
        var configPath: String?
        var rest: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--config" {
                guard index + 1 < arguments.count else {
                    throw ConfigError(file: "--config", key: nil, reason: "needs a file path")
                }
                configPath = arguments[index + 1]
                index += 2
                continue
            }
            if argument.hasPrefix("--config=") {
                configPath = String(argument.dropFirst("--config=".count))
                index += 1
                continue
            }
            if argument.hasPrefix("--") {
                given.insert(String(argument.dropFirst(2).split(separator: "=", maxSplits: 1)[0]))
            }
            rest.append(argument)
            index += 1
        }
        var extra: [String] = []
        var configFlags: [String] = []
        // Environment variables next; unknown CAPSULE_* variables are ignored (they may be meant for others).
        var fromEnvironment = Set<String>()
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("CAPSULE_") {
            let flag = name.dropFirst("CAPSULE_".count).lowercased().replacingOccurrences(of: "_", with: "-")
            guard knownFlags.contains(flag), !given.contains(flag) else { continue }
            fromEnvironment.insert(flag)
            // Boolean flags: CAPSULE_JSON=true sets --json; false leaves it off.
            switch value.lowercased() {
            case "true": extra.append("--\(flag)")
            case "false": break
            default: extra += ["--\(flag)", value]
            }
        }
        if let configPath {
            for (flag, values) in try load(configPath, knownFlags: knownFlags, repeatableFlags: repeatableFlags)
            where !given.contains(flag) && !fromEnvironment.contains(flag) {
                configFlags.append(flag)
                for value in values {
                    if value == "\u{0}true" {
                        extra.append("--\(flag)")
                    } else if value != "\u{0}false" {
                        extra += ["--\(flag)", value]
                    }
                }
            }
        }
        return Resolved(arguments: rest + extra, configFile: configPath, configFlags: configFlags)
    }

    /// Reads a config file into flag → values. Unknown keys and wrong shapes are refused with the
    /// file, the key and the reason.
    static func load(
        _ path: String,
        knownFlags: Set<String>,
        repeatableFlags: Set<String> = []
    ) throws -> [(String, [String])] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(file: path, key: nil, reason: "cannot read the file")
        }
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw ConfigError(
                file: path,
                key: nil,
                reason: "not valid YAML or JSON: \(String(describing: error).prefix(120))"
            )
        }
        if root == nil { return [] }
        guard let mapping = root as? [String: Any] else {
            throw ConfigError(file: path, key: nil, reason: "expected a mapping of flag names to values")
        }
        var result: [(String, [String])] = []
        for key in mapping.keys.sorted() {
            guard key != "config" else {
                throw ConfigError(file: path, key: key, reason: "a config file cannot name another config file")
            }
            guard knownFlags.contains(key) else {
                let normalized = key.lowercased().replacingOccurrences(of: "_", with: "-")
                let suggestion = knownFlags.sorted().map { ($0, editDistance($0, normalized)) }.filter { $0.1 <= 2 }.min
                { $0.1 < $1.1 }?.0
                throw ConfigError(
                    file: path,
                    key: key,
                    reason: "unknown key" + (suggestion.map { " (did you mean \($0)?)" } ?? "")
                )
            }
            let value = mapping[key]
            switch value {
            case let list as [Any]:
                guard repeatableFlags.contains(key) else {
                    throw ConfigError(file: path, key: key, reason: "takes one value, not a list")
                }
                result.append((key, try list.map { try scalar($0, file: path, key: key) }))
            default:
                result.append((key, [try scalar(value as Any, file: path, key: key)]))
            }
        }
        return result
    }

    /// Levenshtein distance, for "did you mean" suggestions.
    package static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    private static func scalar(_ value: Any, file: String, key: String) throws -> String {
        switch value {
        case let flag as Bool: return flag ? "\u{0}true" : "\u{0}false"
        case let int as Int: return String(int)
        case let double as Double: return String(double)
        case let text as String: return text
        default: throw ConfigError(file: file, key: key, reason: "expected a string, number or boolean")
        }
    }

    /// The flags whose help text says "(repeatable)": only these may take a list in a config file.
    package static func repeatableFlags(in help: String) -> Set<String> {
        var flags = Set<String>()
        var current: String?
        for line in help.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            if trimmed.hasPrefix("--") {
                current = String(trimmed.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" })
            } else if trimmed.hasPrefix("-") {
                current = nil
            }
            if let current, line.contains("(repeatable)") { flags.insert(current) }
        }
        return flags
    }

    /// The long flag names in a command's help text.
    package static func knownFlags(in help: String) -> Set<String> {
        var flags = Set<String>()
        var scanner = help[...]
        while let range = scanner.range(of: "--") {
            let tail = scanner[range.upperBound...]
            let name = tail.prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if let first = name.first, first.isLetter { flags.insert(String(name)) }
            scanner = tail
        }
        return flags
    }
}

extension ConfigArguments {
    /// `arguments` merged with `CAPSULE_*` variables and `--config`, for the flags listed in `help`.
    /// A bad config file is thrown as a ``ConfigError`` (the caller prints one line and exits 2).
    package static func processArguments(
        _ arguments: [String],
        environment: [String: String],
        help: String
    ) throws -> Resolved {
        try resolved(
            arguments,
            environment: environment,
            knownFlags: knownFlags(in: help),
            repeatableFlags: repeatableFlags(in: help)
        )
    }
}

/// Exit codes shared by every Capsule executable (capsulectl adds its own above 2, see
/// `CTLExitCode`): 0 success, 1 failure, 2 usage (bad flags, a bad config file).
package enum DaemonExit {
    package static let success: Int32 = 0
    package static let failure: Int32 = 1
    package static let usage: Int32 = 2

    /// One line on standard error: `capsule-broker: MESSAGE`.
    package static func printError(_ program: String, _ message: String) {
        let line = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        .joined(separator: "; ")
        FileHandle.standardError.write(Data("\(program): \(line)\n".utf8))
    }

    /// A runtime error as one readable line (no type dumps).
    package static func describe(_ error: any Error) -> String {
        switch error {
        case let error as ErrorBody: return error.message
        case let error as ConfigError: return error.description
        case let error as any CustomStringConvertible: return error.description
        default: return "\(error)"
        }
    }
}

extension ParsableCommand {
    /// Parses `arguments` (merged with `CAPSULE_*` variables and `--config`) as this root command.
    /// Help and `--version` print and return 0; a usage error prints one line and returns 2. The
    /// command is returned when it should run.
    package static func parseWithConfig(
        _ arguments: [String],
        environment: [String: String]
    ) -> Result<any ParsableCommand, ExitStatus> {
        // A peer that closes a pipe or socket must never kill the process (SIGPIPE); writes report EPIPE instead.
        signal(SIGPIPE, SIG_IGN)
        let name = configuration.commandName ?? "capsule"
        let resolved: ConfigArguments.Resolved
        do {
            resolved = try ConfigArguments.processArguments(
                arguments,
                environment: environment,
                help: helpMessage(columns: 10_000)
            )
        } catch {
            DaemonExit.printError(name, DaemonExit.describe(error))
            return .failure(ExitStatus(DaemonExit.usage))
        }
        do {
            return .success(try parseAsRoot(resolved.arguments))
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                return .failure(ExitStatus(DaemonExit.success))
            }
            var message = self.message(for: error)
            if message.hasSuffix(".") { message.removeLast() }
            if let file = resolved.configFile,
                let key = resolved.configFlags.first(where: { message.contains("'--\($0)") })
            {
                DaemonExit.printError(name, "\(file): \(key): \(message)")
            } else {
                DaemonExit.printError(name, "\(message) (see \(name) --help)")
            }
            return .failure(ExitStatus(DaemonExit.usage))
        }
    }
}

/// An exit status as an `Error`, so it can travel in a `Result`.
package struct ExitStatus: Error, Sendable, Hashable {
    package var code: Int32
    package init(_ code: Int32) { self.code = code }
}

extension AsyncParsableCommand {
    /// `main` for daemons, minus the exit: merges `--config`, `CAPSULE_*` variables and flags, runs
    /// the command, and returns the exit status for the thin `main` to exit with. Errors are one line.
    package static func runWithConfig(
        _ arguments: [String] = Array(CommandLine.arguments.dropFirst()),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async -> Int32 {
        let name = configuration.commandName ?? "capsule"
        switch parseWithConfig(arguments, environment: environment) {
        case .failure(let status):
            return status.code
        case .success(var command):
            do {
                if var asyncCommand = command as? any AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    try command.run()
                }
                return DaemonExit.success
            } catch let exit as ExitCode {
                return exit.rawValue
            } catch let error as ValidationError {
                DaemonExit.printError(name, "\(error.message) (see \(name) --help)")
                return DaemonExit.usage
            } catch {
                // Help and usage errors can surface here too (ArgumentParser parses some lazily).
                let code = exitCode(for: error)
                if code == .success {
                    print(fullMessage(for: error))
                    return DaemonExit.success
                }
                if code == .validationFailure {
                    var message = self.message(for: error)
                    if message.hasSuffix(".") { message.removeLast() }
                    DaemonExit.printError(name, "\(message) (see \(name) --help)")
                    return DaemonExit.usage
                }
                DaemonExit.printError(name, DaemonExit.describe(error))
                return DaemonExit.failure
            }
        }
    }
}
