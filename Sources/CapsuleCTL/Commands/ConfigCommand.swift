import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// `capsulectl config`: the client config file's contexts, as `kubectl config` manages kubeconfig.
/// These commands only read and write the file; they never connect, and take no settings from
/// `CAPSULE_*` variables or the current context.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract:
            "Contexts in the client config file (~/.config/capsule/config.yaml): which control plane, as which operator.",
        subcommands: [GetContexts.self, CurrentContext.self, UseContext.self, SetContext.self, DeleteContext.self]
    )

    static func path(_ options: CTLOptions) -> String {
        let environment = ProcessInfo.processInfo.environment
        return options.clientConfig ?? environment["CAPSULE_CLIENT_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ClientConfig.defaultPath(environment: environment)
    }

    static func load(_ options: CTLOptions) throws -> (ClientConfig, String) {
        let path = path(options)
        return (try ClientConfig.load(path, environment: ProcessInfo.processInfo.environment) ?? ClientConfig(), path)
    }

    struct Row: Encodable {
        var name: String
        var current: Bool
        var home: String?
        var router: String?
        var brokerKey: String?
        var key: String?
        var operatorName: String?
    }

    struct GetContexts: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get-contexts",
            abstract: "List the contexts; * marks the current one."
        )
        @OptionGroup var options: CTLOptions

        func run() throws {
            try guarded {
                let (config, path) = try ConfigCommand.load(options)
                let rows = config.contexts.map { context in
                    Row(
                        name: context.name,
                        current: context.name == config.currentContext,
                        home: context.settings["home"],
                        router: context.settings["router"],
                        brokerKey: context.settings["broker-key"],
                        key: context.settings["key"],
                        operatorName: context.settings["operator-name"]
                    )
                }
                if options.json { return printLine(options.render(rows)) }
                if rows.isEmpty {
                    return printLine(
                        "No contexts in \(path) (add one with capsulectl config set-context NAME --home DIR …)."
                    )
                }
                let view = TableView<Row>()
                    .column("CURRENT") { $0.current ? "*" : "" }
                    .column("NAME") { $0.name }
                    .column("HOME") { $0.home ?? "-" }
                    .column("ROUTER") { $0.router ?? "-" }
                    .column("BROKER KEY", wide: true) { $0.brokerKey ?? "-" }
                    .column("KEY") { $0.key ?? "-" }
                printLine(view.render(rows, wide: options.wide, headers: !options.noHeaders))
            }
        }
    }

    struct CurrentContext: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "current-context",
            abstract: "Print the current context's name."
        )
        @OptionGroup var options: CTLOptions

        func run() throws {
            try guarded {
                let (config, path) = try ConfigCommand.load(options)
                guard let current = config.currentContext else {
                    throw CTLError(
                        .notFound,
                        "no current context in \(path) (choose one with capsulectl config use-context NAME)"
                    )
                }
                printLine(current)
            }
        }
    }

    struct UseContext: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "use-context",
            abstract: "Make a context the current one."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The context's name.", completion: Completions.contextNames) var name: String

        func run() throws {
            try guarded {
                var (config, path) = try ConfigCommand.load(options)
                guard config.context(named: name) != nil else {
                    throw CTLError(
                        .usage,
                        "unknown context '\(name)' in \(path) (\(config.names)); see capsulectl config get-contexts"
                    )
                }
                config.currentContext = name
                try config.write(to: path)
                printLine("Switched to context \(name).")
            }
        }
    }

    struct SetContext: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-context",
            abstract:
                "Add a context, or change one: the --home, --router, --ingest, --bus, --broker-key, --key and --operator-name given are stored in it."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The context's name.", completion: Completions.contextNames) var name: String
        @Flag(help: "Also make it the current context.") var use = false

        func validate() throws {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ValidationError("a context name is letters, digits, '-', '_' and '.'")
            }
        }

        func run() throws {
            try guarded {
                var (config, path) = try ConfigCommand.load(options)
                let given: [String: String?] = [
                    "home": options.connect.home.map(Self.absolute), "router": options.connect.router,
                    "ingest": options.connect.ingest,
                    "bus": options.connect.bus, "broker-key": options.connect.brokerKey.map(Self.keyOrPath),
                    "key": options.key.map(Self.absolute), "operator-name": options.operatorName,
                ]
                var context = config.context(named: name) ?? ClientConfig.Context(name: name, settings: [:])
                for (key, value) in given { if let value { context.settings[key] = value } }
                if let index = config.contexts.firstIndex(where: { $0.name == name }) {
                    config.contexts[index] = context
                } else {
                    config.contexts.append(context)
                }
                if use || config.currentContext == nil { config.currentContext = name }
                try config.write(to: path)
                printLine("Context \(name) saved in \(path)" + (config.currentContext == name ? " (current)." : "."))
            }
        }

        static func absolute(_ path: String) -> String {
            path.hasPrefix("/") || path.hasPrefix("~") ? path : FileManager.default.currentDirectoryPath + "/" + path
        }

        /// A Z85 key stays as it is; a file path is made absolute.
        static func keyOrPath(_ text: String) -> String {
            text.count == 40 && !text.contains("/") && !FileManager.default.fileExists(atPath: text)
                ? text : absolute(text)
        }
    }

    struct DeleteContext: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete-context", abstract: "Remove a context.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The context's name.", completion: Completions.contextNames) var name: String

        func run() throws {
            try guarded {
                var (config, path) = try ConfigCommand.load(options)
                guard config.context(named: name) != nil else {
                    throw CTLError(.usage, "unknown context '\(name)' in \(path) (\(config.names))")
                }
                config.contexts.removeAll { $0.name == name }
                if config.currentContext == name { config.currentContext = nil }
                try config.write(to: path)
                printLine("Deleted context \(name).")
            }
        }
    }
}
