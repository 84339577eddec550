import CapsuleDomain
import Foundation
import Yams

/// Reads and strictly validates a sidecar manifest in YAML or JSON: a missing field, an unknown key
/// or a wrong type is refused with the file, the field and the reason. Every problem is reported,
/// not only the first: one is thrown as ``ManifestError``, several as ``ManifestErrors``.
package enum ManifestLoader {
    /// A manifest file is small; anything larger is refused before it is parsed.
    package static let maxBytes = 256 * 1024
    /// YAML nodes a manifest may expand to (aliases included), so an alias bomb is refused quickly.
    package static let maxNodes = 20_000

    package static func load(path: String) throws -> SidecarManifest {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > maxBytes {
            throw ManifestError(
                file: path,
                field: "(file)",
                reason: "is \(size) bytes; a manifest may be at most \(maxBytes)"
            )
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ManifestError(file: path, field: "(file)", reason: "cannot read the file")
        }
        return try parse(text, file: path)
    }

    package static func parse(_ text: String, file: String) throws -> SidecarManifest {
        guard text.utf8.count <= maxBytes else {
            throw ManifestError(
                file: file,
                field: "(file)",
                reason: "is \(text.utf8.count) bytes; a manifest may be at most \(maxBytes)"
            )
        }
        let root: Any?
        do {
            // Count nodes first, aliases expanded, with a budget: a billion-laughs document stops here.
            if let node = try Yams.compose(yaml: text) {
                var budget = maxNodes
                guard count(node, budget: &budget) else {
                    throw ManifestError(
                        file: file,
                        field: "(document)",
                        reason:
                            "expands to more than \(maxNodes) YAML nodes (YAML aliases?); write the manifest out plainly"
                    )
                }
            }
            root = try Yams.load(yaml: text)
        } catch let error as ManifestError {
            throw error
        } catch {
            throw ManifestError(
                file: file,
                field: "(document)",
                reason: "not valid YAML or JSON: \(String(describing: error).prefix(160))"
            )
        }
        let reader = Reader(file: file)
        let manifest = reader.manifest(root)
        switch reader.errors.count {
        case 0: return manifest!
        case 1: throw reader.errors[0]
        default: throw ManifestErrors(errors: reader.errors)
        }
    }

    private static func count(_ node: Node, budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch node {
        case .scalar, .alias: return true
        case .mapping(let mapping):
            for (key, value) in mapping where !count(key, budget: &budget) || !count(value, budget: &budget) {
                return false
            }
            return true
        case .sequence(let sequence):
            for item in sequence where !count(item, budget: &budget) { return false }
            return true
        }
    }

    private final class Reader {
        let file: String
        private(set) var errors: [ManifestError] = []

        init(file: String) { self.file = file }

        /// Runs one check; a failure is recorded and parsing goes on with the next field.
        func attempt<T>(_ body: () throws -> T) -> T? {
            do {
                return try body()
            } catch let error as ManifestError {
                errors.append(error)
            } catch {
                errors.append(fail("(document)", "\(error)"))
            }
            return nil
        }

        func manifest(_ root: Any?) -> SidecarManifest? {
            guard let top = attempt({ try object(root, "(document)") }) else { return nil }
            _ = attempt {
                try only(top, ["code", "name", "version", "runtime", "health", "configs", "actions"], at: "")
            }
            let code = attempt { try identifier(top["code"], "code") }
            let name = attempt { try string(top["name"], "name") }
            let version = attempt { try string(top["version"], "version") }
            let runtime = attempt { try string(top["runtime"], "runtime") }
            let health = attempt { try probe(top["health"], "health") }
            var configs: [ConfigItem] = []
            if let raw = top["configs"], let items = attempt({ try array(raw, "configs") }) {
                for (index, item) in items.enumerated() {
                    if let config = attempt({ try config(item, "configs[\(index)]") }) { configs.append(config) }
                }
            }
            var actions: [SidecarManifest.Action] = []
            if let raw = top["actions"], let items = attempt({ try array(raw, "actions") }) {
                for (index, item) in items.enumerated() {
                    guard let action = actionItem(item, "actions[\(index)]") else { continue }
                    if actions.contains(where: { $0.definition.name == action.definition.name }) {
                        errors.append(fail("actions[\(index)].name", "duplicate action name \(action.definition.name)"))
                        continue
                    }
                    actions.append(action)
                }
            }
            guard let code, let name, let version, let runtime, let health else { return nil }
            return SidecarManifest(
                code: code,
                name: name,
                version: version,
                runtime: runtime,
                health: health,
                configs: configs,
                actions: actions
            )
        }

        func fail(_ field: String, _ reason: String) -> ManifestError {
            ManifestError(file: file, field: field.isEmpty ? "(document)" : field, reason: reason)
        }

        func object(_ value: Any?, _ field: String) throws -> [String: Any] {
            guard let value else { throw fail(field, "is required") }
            guard let object = value as? [String: Any] else {
                throw fail(field, "expected a mapping, got \(kind(value))")
            }
            return object
        }

        func only(_ object: [String: Any], _ allowed: Set<String>, at prefix: String) throws {
            for key in object.keys.sorted() where !allowed.contains(key) {
                throw fail(
                    prefix.isEmpty ? key : "\(prefix).\(key)",
                    "unknown key (allowed: \(allowed.sorted().joined(separator: ", ")))"
                )
            }
        }

        func array(_ value: Any?, _ field: String) throws -> [Any] {
            guard let value else { throw fail(field, "is required") }
            guard let array = value as? [Any] else { throw fail(field, "expected a list, got \(kind(value))") }
            return array
        }

        func string(_ value: Any?, _ field: String) throws -> String {
            guard let value else { throw fail(field, "is required") }
            guard let text = value as? String else { throw fail(field, "expected a string, got \(kind(value))") }
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail(field, "must not be empty") }
            return text
        }

        func identifier(_ value: Any?, _ field: String) throws -> String {
            let text = try string(value, field)
            guard Identifier.isValid(text) else {
                throw fail(
                    field,
                    "use 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit (\(Identifier.pattern))"
                )
            }
            return text
        }

        func number(_ value: Any?, _ field: String) throws -> Double {
            guard let value else { throw fail(field, "is required") }
            if value is Bool { throw fail(field, "expected a number, got a boolean") }
            if let int = value as? Int { return Double(int) }
            if let double = value as? Double { return double }
            throw fail(field, "expected a number, got \(kind(value))")
        }

        func bool(_ value: Any?, _ field: String) throws -> Bool {
            guard let value else { throw fail(field, "is required") }
            guard let flag = value as? Bool else { throw fail(field, "expected true or false, got \(kind(value))") }
            return flag
        }

        func argv(_ value: Any?, _ field: String) throws -> [String] {
            if value is String {
                throw fail(
                    field,
                    "must be a list of arguments, never a shell string (write [\"/usr/bin/prog\", \"--flag\"])"
                )
            }
            let items = try array(value, field)
            guard !items.isEmpty else { throw fail(field, "must name at least the program") }
            let argv = try items.enumerated().map { index, item in
                guard let text = item as? String else {
                    throw fail("\(field)[\(index)]", "expected a string, got \(kind(item))")
                }
                return text
            }
            guard !argv[0].trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail("\(field)[0]", "must name the program")
            }
            guard !argv[0].contains("${") else {
                throw fail("\(field)[0]", "must name the program itself; a payload placeholder cannot choose what runs")
            }
            if let placeholder = argv.first(where: { $0.contains("${") }),
                let interpreter = ArgvPolicy.interpreter(before: placeholder, in: argv)
            {
                throw fail(
                    field,
                    "passes a payload value to \(interpreter), a command interpreter: that is a shell by the back door. Run a program that takes the value as an argument"
                )
            }
            for (index, argument) in argv.enumerated()
            where argument.contains("${") && !ArgvPolicy.isPlaceholder(argument) {
                throw fail("\(field)[\(index)]", "a placeholder must be a whole argument, exactly ${payload.NAME}")
            }
            return argv
        }

        func timeout(_ object: [String: Any], _ field: String) throws -> Double {
            let seconds = try number(object["timeoutSeconds"], "\(field).timeoutSeconds")
            guard seconds > 0, seconds <= 3600 else {
                throw fail("\(field).timeoutSeconds", "must be between 0 and 3600")
            }
            return seconds
        }

        func probe(_ value: Any?, _ field: String) throws -> SidecarManifest.Probe {
            let object = try self.object(value, field)
            let type = try string(object["type"], "\(field).type")
            switch type {
            case "http":
                try only(object, ["type", "url", "timeoutSeconds"], at: field)
                let url = try string(object["url"], "\(field).url")
                guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https",
                    parsed.host != nil
                else {
                    throw fail("\(field).url", "expected an http:// or https:// URL")
                }
                return .http(url: url, timeoutSeconds: try timeout(object, field))
            case "tcp":
                try only(object, ["type", "host", "port", "timeoutSeconds"], at: field)
                let port = try number(object["port"], "\(field).port")
                guard port >= 1, port <= 65_535, port.rounded() == port else {
                    throw fail("\(field).port", "must be a port number 1-65535")
                }
                return .tcp(
                    host: try string(object["host"], "\(field).host"),
                    port: Int(port),
                    timeoutSeconds: try timeout(object, field)
                )
            case "command":
                try only(object, ["type", "argv", "timeoutSeconds"], at: field)
                return .command(
                    argv: try argv(object["argv"], "\(field).argv"),
                    timeoutSeconds: try timeout(object, field)
                )
            default:
                throw fail("\(field).type", "must be http, tcp or command, got \(type)")
            }
        }

        func config(_ value: Any?, _ field: String) throws -> ConfigItem {
            let object = try self.object(value, field)
            try only(object, ["key", "value", "sensitive", "secretRef"], at: field)
            let key = try string(object["key"], "\(field).key")
            let sensitive = try object["sensitive"].map { try bool($0, "\(field).sensitive") } ?? false
            if sensitive {
                if object["value"] != nil {
                    throw fail("\(field).value", "a sensitive item carries no value; give secretRef instead")
                }
                let ref = try string(object["secretRef"], "\(field).secretRef")
                return ConfigItem(key: key, sensitive: true, secretRef: ref)
            }
            guard let raw = object["value"] else {
                throw fail("\(field).value", "is required (or mark the item sensitive with a secretRef)")
            }
            return ConfigItem(key: key, value: try json(raw, "\(field).value"))
        }

        /// One action; each of its fields is checked, and every problem recorded.
        func actionItem(_ value: Any?, _ field: String) -> SidecarManifest.Action? {
            guard let object = attempt({ try self.object(value, field) }) else { return nil }
            _ = attempt {
                try only(
                    object,
                    [
                        "name", "label", "description", "dangerLevel", "requiresConfirmation", "inputSchema",
                        "timeoutSeconds", "argv",
                    ],
                    at: field
                )
            }
            let name = attempt { try identifier(object["name"], "\(field).name") }
            var danger = DangerLevel.low
            if let raw = object["dangerLevel"] {
                _ = attempt {
                    let text = try string(raw, "\(field).dangerLevel")
                    guard let level = DangerLevel(rawValue: text.uppercased()) else {
                        throw fail("\(field).dangerLevel", "must be LOW, MEDIUM, HIGH or CRITICAL, got \(text)")
                    }
                    danger = level
                }
            }
            var timeoutSeconds: Int?
            if object["timeoutSeconds"] != nil {
                _ = attempt {
                    let seconds = try number(object["timeoutSeconds"], "\(field).timeoutSeconds")
                    guard seconds >= 1, seconds <= 86_400 else {
                        throw fail("\(field).timeoutSeconds", "must be between 1 and 86400")
                    }
                    timeoutSeconds = Int(seconds)
                }
            }
            var schema: JSONValue?
            if let raw = object["inputSchema"] {
                schema = attempt {
                    let value = try json(raw, "\(field).inputSchema")
                    guard case .object = value else {
                        throw fail("\(field).inputSchema", "expected a JSON Schema object")
                    }
                    return value
                }
                for problem in schema.map({ JSONSchemaValidator.unsupported(in: $0) }) ?? [] {
                    errors.append(fail("\(field).inputSchema", problem))
                }
            }
            let label = attempt { try object["label"].map { try string($0, "\(field).label") } }
            let description = attempt { try object["description"].map { try string($0, "\(field).description") } }
            let confirm = attempt {
                try object["requiresConfirmation"].map { try bool($0, "\(field).requiresConfirmation") }
            }
            let argv = attempt { try self.argv(object["argv"], "\(field).argv") }
            if let argv {
                var declared = Set<String>()
                if case .object(let properties)? = schema?["properties"] { declared = Set(properties.keys) }
                for (index, argument) in argv.enumerated() {
                    guard let property = ArgvPolicy.placeholderName(argument), !declared.contains(property) else {
                        continue
                    }
                    errors.append(
                        fail(
                            "\(field).argv[\(index)]",
                            "${payload.\(property)} names no property of inputSchema; declare it there so it is checked"
                        )
                    )
                }
            }
            guard let name, let argv, let label, let description, let confirm else { return nil }
            let definition = ActionDefinition(
                name: name,
                label: label,
                description: description ?? "",
                dangerLevel: danger,
                requiresConfirmation: confirm ?? false,
                inputSchema: schema,
                timeoutSeconds: timeoutSeconds
            )
            return SidecarManifest.Action(definition: definition, argv: argv)
        }

        func json(_ value: Any, _ field: String) throws -> JSONValue {
            switch value {
            case let flag as Bool: return .bool(flag)
            case let int as Int: return .number(Double(int))
            case let double as Double: return .number(double)
            case let text as String: return .string(text)
            case let array as [Any]: return .array(try array.enumerated().map { try json($1, "\(field)[\($0)]") })
            case let object as [String: Any]:
                var result: [String: JSONValue] = [:]
                for (key, item) in object { result[key] = try json(item, "\(field).\(key)") }
                return .object(result)
            case is NSNull: return .null
            default: throw fail(field, "unsupported value \(kind(value))")
            }
        }

        func kind(_ value: Any) -> String {
            switch value {
            case is Bool: "a boolean"
            case is Int, is Double: "a number"
            case is String: "a string"
            case is [Any]: "a list"
            case is [String: Any]: "a mapping"
            default: "null"
            }
        }
    }
}
