package import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// Lets `capsulectl`'s global options go anywhere, as kubectl's do: `capsulectl --json status` and
/// `capsulectl status --json` are the same command. It finds the subcommand path, moves global
/// options after it, and says whether that path runs a command (so settings from the environment,
/// the config file and the context apply) or only prints help.
///
/// A word that names no subcommand where one is expected is a usage error with a suggestion, not
/// a complaint about some option.
package struct ArgumentNormalizer {
    /// A global option: its spellings, and whether it takes a value.
    package struct Option: Sendable, Hashable {
        package var names: [String]
        package var takesValue: Bool
    }

    package struct Normalized: Sendable, Equatable {
        /// The arguments to parse, global options after the subcommand path.
        package var arguments: [String]
        /// The subcommand path (`["audit", "export"]`).
        package var path: [String]
        /// True when the path ends at a command that runs (it takes the global options).
        package var runnable: Bool

        package init(arguments: [String], path: [String], runnable: Bool) {
            self.arguments = arguments
            self.path = path
            self.runnable = runnable
        }
    }

    let root: any ParsableCommand.Type
    let options: [String: Option]

    package init(root: any ParsableCommand.Type, globalOptionsHelp: String) {
        self.root = root
        var options: [String: Option] = [:]
        for option in Self.options(inHelp: globalOptionsHelp) {
            for name in option.names { options[name] = option }
        }
        self.options = options
    }

    /// The options listed in an ArgumentParser help text (`  -o, --output <output>   …`).
    package static func options(inHelp help: String) -> [Option] {
        var found: [Option] = []
        var inOptions = false
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("OPTIONS:") {
                inOptions = true
                continue
            }
            guard inOptions else { continue }
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("-"), line.hasPrefix("  ") else { continue }
            let spec = trimmed.components(separatedBy: "  ").first ?? ""
            let names = spec.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",")) }
                .filter { $0.hasPrefix("-") }
            guard !names.isEmpty, !names.contains("--help"), !names.contains("-h") else { continue }
            found.append(Option(names: names, takesValue: spec.contains("<")))
        }
        return found
    }

    package func normalize(_ arguments: [String]) throws(CTLError) -> Normalized {
        // The shell completion scripts call `capsulectl ---completion …`: pass it on untouched.
        if arguments.first == "---completion" { return Normalized(arguments: arguments, path: [], runnable: false) }
        var command: any ParsableCommand.Type = root
        var path: [String] = []
        var rest: [String] = []
        var globals: [String] = []
        var pathDone = false
        var helpWord = false
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                rest += arguments[index...]
                break
            }
            if argument.hasPrefix("-"), argument.count > 1 {
                let name = String(argument.split(separator: "=", maxSplits: 1)[0])
                if let option = options[name] {
                    if option.takesValue && !argument.contains("=") && index + 1 < arguments.count {
                        globals += [argument, arguments[index + 1]]
                        index += 2
                    } else {
                        globals.append(argument)
                        index += 1
                    }
                    continue
                }
                // Another option: what follows may be its value, so no later word is a subcommand.
                pathDone = true
                rest.append(argument)
                index += 1
                continue
            }
            if !pathDone {
                let subcommands = command.configuration.subcommands
                if let next = subcommands.first(where: { Self.names(of: $0).contains(argument) }) {
                    command = next
                    path.append(argument)
                    rest.append(argument)
                    index += 1
                    continue
                }
                if argument == "help" && !subcommands.isEmpty {
                    helpWord = true
                    rest += arguments[index...].filter { !$0.hasPrefix("-") }
                    break
                }
                if !subcommands.isEmpty && command.configuration.defaultSubcommand == nil {
                    throw unknown(argument, path: path, among: subcommands)
                }
                pathDone = true
            }
            rest.append(argument)
            index += 1
        }
        let runnable =
            !helpWord && (command.configuration.subcommands.isEmpty || command.configuration.defaultSubcommand != nil)
        guard runnable else { return Normalized(arguments: rest, path: path, runnable: false) }
        if let terminator = rest.firstIndex(of: "--") {
            rest.insert(contentsOf: globals, at: terminator)
        } else {
            rest += globals
        }
        return Normalized(arguments: rest, path: path, runnable: true)
    }

    static func names(of command: any ParsableCommand.Type) -> [String] {
        let configuration = command.configuration
        return [configuration.commandName ?? String(describing: command).lowercased()] + configuration.aliases
    }

    private func unknown(_ word: String, path: [String], among subcommands: [any ParsableCommand.Type]) -> CTLError {
        let names = subcommands.flatMap(Self.names(of:))
        let prefix = (["capsulectl"] + path).joined(separator: " ")
        var message = "unknown command '\(word)'" + (path.isEmpty ? "" : " for '\(prefix)'")
        if let suggestion = Self.closest(word, among: names) { message += " (did you mean '\(suggestion)'?)" }
        message += "; see '\(prefix) --help'"
        return CTLError(.usage, message)
    }

    /// The name nearest to `word` by edit distance, when it is near enough to be a typo.
    static func closest(_ word: String, among names: [String]) -> String? {
        let scored = names.map { ($0, distance(word, $0)) }.min { $0.1 < $1.1 }
        guard let (name, score) = scored, score <= max(2, word.count / 3) else {
            return names.first { $0.hasPrefix(word) && !word.isEmpty }
        }
        return name
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
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
}
