import CapsuleDomain
import Foundation
import Yams

/// Reads and strictly validates a sidecar manifest in YAML or JSON: a missing field, an unknown key
/// or a wrong type is refused with the file, the field and the reason.
package enum ManifestLoader {
    package static func load(path: String) throws -> SidecarManifest {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ManifestError(file: path, field: "(file)", reason: "cannot read the file")
        }
        return try parse(text, file: path)
    }

    package static func parse(_ text: String, file: String) throws -> SidecarManifest {
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw ManifestError(file: file, field: "(document)", reason: "not valid YAML or JSON: \(String(describing: error).prefix(160))")
        }
        let reader = Reader(file: file)
        let top = try reader.object(root, "(document)")
        try reader.only(top, ["code", "name", "version", "runtime", "health", "configs", "actions"], at: "")
        let code = try reader.identifier(top["code"], "code")
        let health = try reader.probe(top["health"], "health")
        var configs: [ConfigItem] = []
        if let raw = top["configs"] {
            for (index, item) in try reader.array(raw, "configs").enumerated() {
                configs.append(try reader.config(item, "configs[\(index)]"))
            }
        }
        var actions: [SidecarManifest.Action] = []
        if let raw = top["actions"] {
            for (index, item) in try reader.array(raw, "actions").enumerated() {
                let action = try reader.action(item, "actions[\(index)]")
                if actions.contains(where: { $0.definition.name == action.definition.name }) {
                    throw ManifestError(file: file, field: "actions[\(index)].name", reason: "duplicate action name \(action.definition.name)")
                }
                actions.append(action)
            }
        }
        return SidecarManifest(
            code: code,
            name: try reader.string(top["name"], "name"),
            version: try reader.string(top["version"], "version"),
            runtime: try reader.string(top["runtime"], "runtime"),
            health: health,
            configs: configs,
            actions: actions
        )
    }

    private struct Reader {
        let file: String

        func fail(_ field: String, _ reason: String) -> ManifestError {
            ManifestError(file: file, field: field.isEmpty ? "(document)" : field, reason: reason)
        }

        func object(_ value: Any?, _ field: String) throws -> [String: Any] {
            guard let value else { throw fail(field, "is required") }
            guard let object = value as? [String: Any] else { throw fail(field, "expected a mapping, got \(kind(value))") }
            return object
        }

        func only(_ object: [String: Any], _ allowed: Set<String>, at prefix: String) throws {
            for key in object.keys.sorted() where !allowed.contains(key) {
                throw fail(prefix.isEmpty ? key : "\(prefix).\(key)", "unknown key (allowed: \(allowed.sorted().joined(separator: ", ")))")
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
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
            guard text.count <= 64, text.unicodeScalars.allSatisfy(allowed.contains) else {
                throw fail(field, "use at most 64 letters, digits, '-', '_' or '.'")
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
                throw fail(field, "must be a list of arguments, never a shell string (write [\"/usr/bin/prog\", \"--flag\"])")
            }
            let items = try array(value, field)
            guard !items.isEmpty else { throw fail(field, "must name at least the program") }
            return try items.enumerated().map { index, item in
                guard let text = item as? String else { throw fail("\(field)[\(index)]", "expected a string, got \(kind(item))") }
                return text
            }
        }

        func timeout(_ object: [String: Any], _ field: String) throws -> Double {
            let seconds = try number(object["timeoutSeconds"], "\(field).timeoutSeconds")
            guard seconds > 0, seconds <= 3600 else { throw fail("\(field).timeoutSeconds", "must be between 0 and 3600") }
            return seconds
        }

        func probe(_ value: Any?, _ field: String) throws -> SidecarManifest.Probe {
            let object = try self.object(value, field)
            let type = try string(object["type"], "\(field).type")
            switch type {
            case "http":
                try only(object, ["type", "url", "timeoutSeconds"], at: field)
                let url = try string(object["url"], "\(field).url")
                guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else {
                    throw fail("\(field).url", "expected an http:// or https:// URL")
                }
                return .http(url: url, timeoutSeconds: try timeout(object, field))
            case "tcp":
                try only(object, ["type", "host", "port", "timeoutSeconds"], at: field)
                let port = try number(object["port"], "\(field).port")
                guard port >= 1, port <= 65_535, port.rounded() == port else { throw fail("\(field).port", "must be a port number 1-65535") }
                return .tcp(host: try string(object["host"], "\(field).host"), port: Int(port), timeoutSeconds: try timeout(object, field))
            case "command":
                try only(object, ["type", "argv", "timeoutSeconds"], at: field)
                return .command(argv: try argv(object["argv"], "\(field).argv"), timeoutSeconds: try timeout(object, field))
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
            guard let raw = object["value"] else { throw fail("\(field).value", "is required (or mark the item sensitive with a secretRef)") }
            return ConfigItem(key: key, value: try json(raw, "\(field).value"))
        }

        func action(_ value: Any?, _ field: String) throws -> SidecarManifest.Action {
            let object = try self.object(value, field)
            try only(object, ["name", "label", "description", "dangerLevel", "requiresConfirmation", "inputSchema", "timeoutSeconds", "argv"], at: field)
            let name = try identifier(object["name"], "\(field).name")
            var danger = DangerLevel.low
            if let raw = object["dangerLevel"] {
                let text = try string(raw, "\(field).dangerLevel")
                guard let level = DangerLevel(rawValue: text.uppercased()) else {
                    throw fail("\(field).dangerLevel", "must be LOW, MEDIUM, HIGH or CRITICAL, got \(text)")
                }
                danger = level
            }
            var timeoutSeconds: Int?
            if object["timeoutSeconds"] != nil {
                let seconds = try number(object["timeoutSeconds"], "\(field).timeoutSeconds")
                guard seconds >= 1, seconds <= 86_400 else { throw fail("\(field).timeoutSeconds", "must be between 1 and 86400") }
                timeoutSeconds = Int(seconds)
            }
            let schema = try object["inputSchema"].map { try json($0, "\(field).inputSchema") }
            if let schema, case .object = schema {} else if schema != nil {
                throw fail("\(field).inputSchema", "expected a JSON Schema object")
            }
            let definition = ActionDefinition(
                name: name,
                label: try object["label"].map { try string($0, "\(field).label") },
                description: try object["description"].map { try string($0, "\(field).description") } ?? "",
                dangerLevel: danger,
                requiresConfirmation: try object["requiresConfirmation"].map { try bool($0, "\(field).requiresConfirmation") } ?? false,
                inputSchema: schema,
                timeoutSeconds: timeoutSeconds
            )
            return SidecarManifest.Action(definition: definition, argv: try argv(object["argv"], "\(field).argv"))
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
