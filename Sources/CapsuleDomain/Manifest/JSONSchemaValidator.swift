import Foundation

/// A failure of a payload against an action's input schema, with the JSON path that failed.
package struct SchemaViolation: Error, Sendable, Hashable, CustomStringConvertible {
    /// A JSON-pointer-like path such as `$.replicas` or `$.targets[2]`.
    package var path: String
    package var reason: String

    package var description: String { "\(path): \(reason)" }
}

/// Validates JSON against the subset of JSON Schema that action declarations use:
/// `type` (one or a list), `properties`, `required`, `additionalProperties: false`, `items`, `enum`,
/// `minimum`, `maximum`, `minLength`, `maxLength`, `pattern`, `minItems`, `maxItems`, plus the
/// annotations `title`, `description`, `default` and `examples`. ``unsupported(in:)`` names any other
/// keyword, so a manifest cannot rely on a check that never runs.
package enum JSONSchemaValidator {
    package static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "enum", "minimum", "maximum", "minLength",
        "maxLength",
        "pattern", "minItems", "maxItems", "title", "description", "default", "examples", "$schema",
    ]

    /// Keywords in `schema` (at any depth) that this validator does not check, and `pattern`s that
    /// are not valid regular expressions, as `path: problem` lines.
    package static func unsupported(in schema: JSONValue, path: String = "$") -> [String] {
        guard case .object(let rules) = schema else { return [] }
        var problems: [String] = []
        for key in rules.keys.sorted() where !keywords.contains(key) {
            problems.append(
                "\(path): keyword \(key) is not checked by Capsule (supported: \(keywords.sorted().joined(separator: ", ")))"
            )
        }
        if case .string(let pattern)? = rules["pattern"], (try? NSRegularExpression(pattern: ecma(pattern))) == nil {
            problems.append("\(path).pattern: not a valid regular expression")
        }
        if case .object(let properties)? = rules["properties"] {
            for name in properties.keys.sorted() {
                problems += unsupported(in: properties[name]!, path: "\(path).properties.\(name)")
            }
        }
        if let items = rules["items"] { problems += unsupported(in: items, path: "\(path).items") }
        return problems
    }

    package static func validate(
        _ value: JSONValue,
        against schema: JSONValue,
        path: String = "$"
    ) throws(SchemaViolation) {
        guard case .object(let rules) = schema else { return }
        if let type = rules["type"] {
            let allowed: [String]
            switch type {
            case .string(let name): allowed = [name]
            case .array(let names): allowed = names.compactMap(\.stringValue)
            default: allowed = []
            }
            if !allowed.isEmpty && !allowed.contains(where: { matches(value, type: $0) }) {
                throw SchemaViolation(
                    path: path,
                    reason: "expected \(allowed.joined(separator: " or ")), got \(value.typeName)"
                )
            }
        }
        if case .array(let options) = rules["enum"], !options.contains(value) {
            throw SchemaViolation(
                path: path,
                reason: "must be one of \(options.map(\.compactText).joined(separator: ", "))"
            )
        }
        switch value {
        case .number(let number):
            if case .number(let minimum) = rules["minimum"], number < minimum {
                throw SchemaViolation(path: path, reason: "must be >= \(format(minimum))")
            }
            if case .number(let maximum) = rules["maximum"], number > maximum {
                throw SchemaViolation(path: path, reason: "must be <= \(format(maximum))")
            }
        case .string(let text):
            if case .number(let minimum) = rules["minLength"], Double(text.count) < minimum {
                throw SchemaViolation(path: path, reason: "must be at least \(format(minimum)) characters")
            }
            if case .number(let maximum) = rules["maxLength"], Double(text.count) > maximum {
                throw SchemaViolation(path: path, reason: "must be at most \(format(maximum)) characters")
            }
            if case .string(let pattern) = rules["pattern"] {
                // ECMA-style search semantics: the pattern may match anywhere unless it is anchored.
                guard let expression = try? NSRegularExpression(pattern: ecma(pattern)) else {
                    throw SchemaViolation(path: path, reason: "the schema's pattern is not a valid regular expression")
                }
                let range = NSRange(text.startIndex..<text.endIndex, in: text)
                if expression.firstMatch(in: text, range: range) == nil {
                    throw SchemaViolation(
                        path: path,
                        reason: "must match the pattern \(SafeText.clean(pattern, limit: 80))"
                    )
                }
            }
        case .array(let items):
            if case .number(let minimum) = rules["minItems"], Double(items.count) < minimum {
                throw SchemaViolation(path: path, reason: "must have at least \(format(minimum)) items")
            }
            if case .number(let maximum) = rules["maxItems"], Double(items.count) > maximum {
                throw SchemaViolation(path: path, reason: "must have at most \(format(maximum)) items")
            }
            if let itemSchema = rules["items"] {
                for (index, item) in items.enumerated() {
                    try validate(item, against: itemSchema, path: "\(path)[\(index)]")
                }
            }
        case .object(let object):
            if case .array(let required) = rules["required"] {
                for name in required.compactMap(\.stringValue) where object[name] == nil {
                    throw SchemaViolation(path: "\(path).\(name)", reason: "is required")
                }
            }
            let properties: [String: JSONValue]
            if case .object(let declared) = rules["properties"] { properties = declared } else { properties = [:] }
            for key in object.keys.sorted() {
                if let propertySchema = properties[key] {
                    try validate(object[key]!, against: propertySchema, path: "\(path).\(key)")
                } else if rules["additionalProperties"] == .bool(false) {
                    throw SchemaViolation(path: "\(path).\(key)", reason: "is not an allowed property")
                }
            }
        default:
            break
        }
    }

    /// `pattern` for ICU with JSON Schema's (ECMA-262) meaning of `$`: the end of the text only. ICU's
    /// `$` also matches before a final line terminator, which would let `"abc\n"` satisfy `^[a-z]+$`;
    /// ICU's `\z` is the strict end. An escaped `\$` and a `$` inside `[...]` stay literal.
    static func ecma(_ pattern: String) -> String {
        var out = ""
        var escaped = false
        var inClass = false
        for character in pattern {
            if escaped {
                escaped = false
                out.append(character)
                continue
            }
            switch character {
            case "\\": escaped = true
            case "[": inClass = true
            case "]": inClass = false
            case "$" where !inClass:
                out += "\\z"
                continue
            default: break
            }
            out.append(character)
        }
        return out
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("number", .number):
            return true
        case ("integer", .number(let number)):
            return number.rounded() == number
        default:
            return false
        }
    }

    private static func format(_ number: Double) -> String {
        number.rounded() == number ? String(Int(number)) : String(number)
    }
}
