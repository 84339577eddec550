import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// `capsulectl`'s whole `main` except the exit: arguments in, exit status out, every error one line
/// on standard error. `Sources/capsulectl/main.swift` only calls ``run(_:environment:)`` and exits.
package enum CTLMain {
    package static func run(
        _ arguments: [String] = Array(CommandLine.arguments.dropFirst()),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Int32 {
        // A reader that closes the pipe (`capsulectl audit --follow | head`) must not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let prepared: Prepared
        do {
            prepared = try prepare(arguments, environment: environment)
        } catch {
            return report(error)
        }
        var command: any ParsableCommand
        do {
            command = try CapsuleCTLCommand.parseAsRoot(prepared.arguments)
        } catch {
            if CapsuleCTLCommand.exitCode(for: error) == .success {
                print(CapsuleCTLCommand.fullMessage(for: error))
                return CTLExitCode.success.rawValue
            }
            var message = oneLine(CapsuleCTLCommand.message(for: error))
            if message.hasSuffix(".") { message.removeLast() }
            return report(
                CTLError(.usage, "\(message); see '\((["capsulectl"] + prepared.path).joined(separator: " ")) --help'")
            )
        }
        do {
            try command.run()
            return CTLExitCode.success.rawValue
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch let error as CTLError {
            return report(error)
        } catch {
            if CapsuleCTLCommand.exitCode(for: error) == .success, !(error is ErrorBody) {
                print(CapsuleCTLCommand.fullMessage(for: error))
                return CTLExitCode.success.rawValue
            }
            return report(CTLError.from(error))
        }
    }

    package struct Prepared: Sendable, Equatable {
        package var arguments: [String]
        package var path: [String]
    }

    /// Global options moved after the subcommand, then (for a command that runs) settings from the
    /// command line, `CAPSULE_*` variables, `--config` and the context, in that order of precedence;
    /// an explicitly chosen context (`--context`, `CAPSULE_CONTEXT`) beats variables and `--config`.
    package static func prepare(_ arguments: [String], environment: [String: String]) throws(CTLError) -> Prepared {
        let help = CTLOptions.helpMessage(columns: 10_000)
        let normalized = try ArgumentNormalizer(root: CapsuleCTLCommand.self, globalOptionsHelp: help).normalize(
            arguments
        )
        // `config …` manages the client config file itself: no settings from variables or contexts.
        guard normalized.runnable, normalized.path.first != "config" else {
            return Prepared(arguments: normalized.arguments, path: normalized.path)
        }
        var commandLine = normalized.arguments
        let typed = flags(in: commandLine)
        let requested =
            value(of: "context", in: commandLine) ?? environment["CAPSULE_CONTEXT"].flatMap { $0.isEmpty ? nil : $0 }
        let explicitPath =
            value(of: "client-config", in: commandLine)
            ?? environment["CAPSULE_CLIENT_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let path = explicitPath ?? ClientConfig.defaultPath(environment: environment)
        let context = try ClientConfig.resolve(
            requested: requested,
            path: path,
            explicitPath: explicitPath != nil,
            environment: environment
        )
        if let context, requested != nil {
            commandLine = inserting(contextFlags(context, except: typed), into: commandLine)
        }
        var merged: [String]
        do {
            merged = try ConfigArguments.processArguments(commandLine, environment: environment, help: help).arguments
        } catch {
            throw CTLError(.usage, DaemonExit.describe(error))
        }
        if let context, requested == nil {
            merged = inserting(contextFlags(context, except: flags(in: merged)), into: merged)
        }
        return Prepared(arguments: merged, path: normalized.path)
    }

    private static func contextFlags(_ context: ClientConfig.Context, except present: Set<String>) -> [String] {
        ClientConfig.keys.flatMap { key -> [String] in
            guard !present.contains(key), let value = context.settings[key] else { return [] }
            return ["--\(key)", value]
        }
    }

    /// Inserts flags before a `--` terminator, or at the end.
    private static func inserting(_ flags: [String], into arguments: [String]) -> [String] {
        var arguments = arguments
        arguments.insert(contentsOf: flags, at: arguments.firstIndex(of: "--") ?? arguments.endIndex)
        return arguments
    }

    /// The long flag names given (`--home X`, `--home=X`), up to a `--` terminator.
    static func flags(in arguments: [String]) -> Set<String> {
        var names = Set<String>()
        for argument in arguments {
            if argument == "--" { break }
            if argument.hasPrefix("--") {
                names.insert(String(argument.dropFirst(2).split(separator: "=", maxSplits: 1).first ?? ""))
            }
        }
        return names
    }

    static func value(of flag: String, in arguments: [String]) -> String? {
        var found: String?
        for (index, argument) in arguments.enumerated() {
            if argument == "--" { break }
            if argument == "--\(flag)", index + 1 < arguments.count { found = arguments[index + 1] }
            if argument.hasPrefix("--\(flag)=") { found = String(argument.dropFirst(flag.count + 3)) }
        }
        return found
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { $0.hasPrefix("Error: ") ? String($0.dropFirst("Error: ".count)) : $0 }
            .filter { !$0.hasPrefix("Usage:") && !$0.hasPrefix("See '") }
            .joined(separator: "; ")
    }

    @discardableResult
    static func report(_ error: CTLError) -> Int32 {
        FileHandle.standardError.write(Data("capsulectl: \(oneLine(error.message))\n".utf8))
        return error.exitCode.rawValue
    }
}
