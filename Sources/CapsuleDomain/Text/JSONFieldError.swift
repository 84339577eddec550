/// A parsed JSON value that does not have the shape a type reads from it: a member missing or of
/// the wrong type.
package struct JSONFieldError: Error, CustomStringConvertible {
    package var field: String
    package var expected: String
    package var description: String { "\(field): expected \(expected)" }

    package init(_ field: String, expected: String) {
        self.field = field
        self.expected = expected
    }
}

extension JSONValue {
    /// The object's member `name`; nil when it is absent or null (as `decodeIfPresent` reads it).
    package func member(_ name: String) -> JSONValue? {
        guard case .object(let object) = self, let value = object[name], value != .null else { return nil }
        return value
    }

    package func string(_ name: String) throws(JSONFieldError) -> String {
        guard case .string(let text)? = member(name) else { throw JSONFieldError(name, expected: "a string") }
        return text
    }

    package func optionalString(_ name: String) throws(JSONFieldError) -> String? {
        guard let value = member(name) else { return nil }
        guard case .string(let text) = value else { throw JSONFieldError(name, expected: "a string") }
        return text
    }

    package func number(_ name: String) throws(JSONFieldError) -> Double {
        guard case .number(let number)? = member(name) else { throw JSONFieldError(name, expected: "a number") }
        return number
    }

    package func unsigned(_ name: String) throws(JSONFieldError) -> UInt64 {
        guard let value = UInt64(exactly: try number(name)) else {
            throw JSONFieldError(name, expected: "a whole number from 0")
        }
        return value
    }
}
