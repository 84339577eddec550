import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// Custom shell completions: the completion script calls `capsulectl ---completion …`, which runs
/// these closures, and they ask the broker (with the words' own --home, --context, … and a short
/// timeout). When the broker cannot be asked, they offer nothing rather than hang the shell.
enum Completions {
    static let serviceCodes = CompletionKind.custom { words, _, prefix in
        ask(words) { client in
            var codes: [String] = []
            try client.pages(
                AggregatorOps.StatusList.self,
                .init(prefix: prefix.isEmpty ? nil : prefix, limit: PageCursor.maxLimit),
                cursor: \.cursor
            ) { codes += $0.map(\.code) }
            return codes
        }.filter { $0.hasPrefix(prefix) }
    }

    /// The actions the service named by the word before this one declares.
    static let actionNames = CompletionKind.custom { words, index, prefix in
        guard index > 0, index - 1 < words.count else { return [] }
        let service = words[index - 1]
        return ask(words) { client in
            try client.call(AggregatorOps.ServiceShow.self, .init(code: service)).manifest?.actions.map(\.name) ?? []
        }.filter { $0.hasPrefix(prefix) }
    }

    /// The 50 newest command ids.
    static let commandIds = CompletionKind.custom { words, _, prefix in
        ask(words) { client in
            try client.call(BrokerOps.CommandList.self, .init(limit: 50)).items.map(\.id)
        }.filter { $0.hasPrefix(prefix) }
    }

    /// Context names from the client config file.
    static let contextNames = CompletionKind.custom { words, _, prefix in
        let environment = ProcessInfo.processInfo.environment
        let path =
            CTLMain.value(of: "client-config", in: words) ?? environment["CAPSULE_CLIENT_CONFIG"]
            ?? ClientConfig.defaultPath(environment: environment)
        return ((try? ClientConfig.load(path, environment: environment)) ?? nil)?.contexts.map(\.name).filter {
            $0.hasPrefix(prefix)
        } ?? []
    }

    /// Connects with the connection options among `words` (and the environment and context) and
    /// runs `body`; any failure offers no completions.
    private static func ask(_ words: [String], _ body: (CTLClient) throws -> [String]) -> [String] {
        guard var options = options(from: words) else { return [] }
        options.timeout = options.timeout.map { min($0, 3) } ?? 3
        options.connectTimeout = min(options.connectTimeout, 1)
        guard let client = try? CTLClient(options: options) else { return [] }
        return (try? body(client)) ?? []
    }

    /// The global options among the words being completed, with the environment and the context
    /// applied as for a real run.
    static func options(
        from words: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> CTLOptions? {
        var words = words
        if let first = words.first, first.hasSuffix("capsulectl") { words.removeFirst() }
        let known = ArgumentNormalizer.options(inHelp: CTLOptions.helpMessage(columns: 10_000))
        var globals: [String] = []
        var index = 0
        while index < words.count {
            let word = words[index]
            let name = String(word.split(separator: "=", maxSplits: 1).first ?? "")
            if let option = known.first(where: { $0.names.contains(name) }) {
                if option.takesValue && !word.contains("=") {
                    if index + 1 < words.count { globals += [word, words[index + 1]] }
                    index += 2
                    continue
                }
                globals.append(word)
            }
            index += 1
        }
        // Any leaf takes the global options; `status` stands in for the command being completed.
        guard let prepared = try? CTLMain.prepare(["status"] + globals, environment: environment) else { return nil }
        return try? CTLOptions.parse(Array(prepared.arguments.dropFirst()))
    }
}
