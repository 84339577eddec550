import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation
import Yams

/// YAML output: the same document as the JSON output (same keys, ISO dates as text), in YAML.
package enum YAMLOutput {
    package static func render(_ value: some Encodable) -> String {
        guard let json = JSONOutput.value(value), let text = try? Yams.dump(object: native(json), sortKeys: true) else {
            return "null"
        }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// Swift values Yams represents with their YAML types (strings that look like numbers or
    /// booleans are quoted by Yams).
    static func native(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let flag): return flag
        case .number(let number):
            if number == number.rounded(), abs(number) < 1e15 { return Int(number) }
            return number
        case .string(let text): return text
        case .array(let items): return items.map(native)
        case .object(let object): return object.mapValues(native)
        }
    }
}
