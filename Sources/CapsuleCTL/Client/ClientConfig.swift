import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation
import Yams

/// `capsulectl`'s client config file, as kubeconfig is kubectl's: named contexts, each saying how to
/// reach one control plane as one operator, and the current one.
///
/// ```yaml
/// current-context: prod
/// contexts:
///   - name: prod
///     router: tcp://capsule.example.net:7403
///     broker-key: ~/.config/capsule/prod-broker.pub   # or the Z85 text
///     key: ~/.config/capsule/alice.key
///   - name: local
///     home: ~/.capsule
/// ```
///
/// A context fills in only what flags, `CAPSULE_*` variables and `--config` left unset.
package struct ClientConfig: Sendable, Equatable {
    package struct Context: Sendable, Equatable {
        package var name: String
        package var settings: [String: String]

        package init(name: String, settings: [String: String]) {
            self.name = name
            self.settings = settings
        }
    }

    /// The keys a context may set: the long names of `capsulectl`'s connection options.
    package static let keys = ["home", "router", "ingest", "bus", "broker-key", "key", "operator-name"]
    /// Keys whose values are paths (`~` is expanded).
    static let pathKeys: Set<String> = ["home", "key", "broker-key"]

    package var currentContext: String?
    package var contexts: [Context]

    package init(currentContext: String? = nil, contexts: [Context] = []) {
        self.currentContext = currentContext
        self.contexts = contexts
    }

    package func context(named name: String) -> Context? { contexts.first { $0.name == name } }

    /// The default file: `$XDG_CONFIG_HOME/capsule/config.yaml`, else `~/.config/capsule/config.yaml`.
    package static func defaultPath(environment: [String: String]) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return "\(xdg)/capsule/config.yaml" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return "\(home)/.config/capsule/config.yaml"
    }

    /// Reads a file; nil when it does not exist. A malformed file is a usage error naming the file.
    package static func load(_ path: String, environment: [String: String] = [:]) throws(CTLError) -> ClientConfig? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CTLError(.usage, "\(path): cannot read the client config file")
        }
        return try parse(text, file: path, environment: environment)
    }

    package static func parse(
        _ text: String,
        file: String,
        environment: [String: String] = [:]
    ) throws(CTLError) -> ClientConfig {
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            let first = String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            throw CTLError(
                .usage,
                "\(file): not valid YAML (\(first.prefix(120))); fix it or pass --client-config FILE"
            )
        }
        guard let root else { return ClientConfig() }
        guard let mapping = root as? [String: Any] else {
            throw CTLError(.usage, "\(file): expected a mapping with current-context and contexts")
        }
        for key in mapping.keys where key != "current-context" && key != "contexts" {
            throw CTLError(.usage, "\(file): unknown key '\(key)' (a client config has current-context and contexts)")
        }
        var config = ClientConfig()
        if let current = mapping["current-context"] {
            guard let name = current as? String else {
                throw CTLError(.usage, "\(file): current-context must be a context name")
            }
            config.currentContext = name
        }
        if let list = mapping["contexts"] {
            guard let entries = list as? [Any] else {
                throw CTLError(.usage, "\(file): contexts must be a list of mappings, each with a name")
            }
            for (index, entry) in entries.enumerated() {
                guard let fields = entry as? [String: Any], let name = fields["name"] as? String, !name.isEmpty else {
                    throw CTLError(.usage, "\(file): contexts[\(index)] needs a name")
                }
                var settings: [String: String] = [:]
                for (key, value) in fields where key != "name" {
                    guard keys.contains(key) else {
                        throw CTLError(
                            .usage,
                            "\(file): context '\(name)': unknown key '\(key)' (allowed: \(keys.joined(separator: ", ")))"
                        )
                    }
                    guard let scalar = scalar(value) else {
                        throw CTLError(.usage, "\(file): context '\(name)': \(key) must be a string")
                    }
                    settings[key] = pathKeys.contains(key) ? expand(scalar, environment: environment) : scalar
                }
                guard config.context(named: name) == nil else {
                    throw CTLError(.usage, "\(file): context '\(name)' appears twice")
                }
                config.contexts.append(Context(name: name, settings: settings))
            }
        }
        if let current = config.currentContext, config.context(named: current) == nil {
            throw CTLError(.usage, "\(file): current-context '\(current)' names no context (\(config.names))")
        }
        return config
    }

    var names: String {
        contexts.isEmpty ? "none defined" : "contexts: " + contexts.map(\.name).joined(separator: ", ")
    }

    private static func scalar(_ value: Any) -> String? {
        switch value {
        case let text as String: return text
        case let number as Int: return String(number)
        default: return nil
        }
    }

    /// `~/x` → `$HOME/x`.
    static func expand(_ path: String, environment: [String: String]) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + path.dropFirst()
    }

    /// The file's text. Order and names are kept stable so the file diffs well.
    package func yaml() -> String {
        var lines: [String] = []
        if let currentContext { lines.append("current-context: \(Self.quote(currentContext))") }
        lines.append(contexts.isEmpty ? "contexts: []" : "contexts:")
        for context in contexts {
            lines.append("  - name: \(Self.quote(context.name))")
            for key in Self.keys where context.settings[key] != nil {
                lines.append("    \(key): \(Self.quote(context.settings[key]!))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func quote(_ text: String) -> String {
        let plain =
            text.allSatisfy { $0.isLetter || $0.isNumber || "-_./:~@+".contains($0) } && !text.isEmpty
            && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(text.lowercased())
            && Double(text) == nil
        return plain
            ? text
            : "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                + "\""
    }

    /// Writes the file (mode 0600: it names key files), creating its folder.
    package func write(to path: String) throws(CTLError) {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            try Data(yaml().utf8).write(to: url, options: .atomic)
            _ = chmod(path, 0o600)
        } catch {
            throw CTLError(.failed, "cannot write \(path): \((error as NSError).localizedDescription)")
        }
    }
}

extension ClientConfig {
    /// Which context applies: `--context` (or `CAPSULE_CONTEXT`), else the file's current one.
    /// An unknown name, or `--context` without a file, is a usage error.
    package static func resolve(
        requested: String?,
        path: String,
        explicitPath: Bool,
        environment: [String: String]
    ) throws(CTLError) -> Context? {
        let config = try load(path, environment: environment)
        if explicitPath && config == nil {
            throw CTLError(
                .usage,
                "no client config file at \(path) (create one with capsulectl config set-context NAME …)"
            )
        }
        if let requested {
            guard let config else {
                throw CTLError(
                    .usage,
                    "unknown context '\(requested)': there is no client config file at \(path) (create it with capsulectl config set-context \(requested) --home DIR …)"
                )
            }
            guard let context = config.context(named: requested) else {
                throw CTLError(
                    .usage,
                    "unknown context '\(requested)' in \(path) (\(config.names)); see capsulectl config get-contexts"
                )
            }
            return context
        }
        return config?.currentContext.flatMap { config?.context(named: $0) }
    }
}
