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

/// Something a type's fields are read from by name: a parsed ``JSONValue`` object, or the members of
/// a top-level object as ``JSONParser/members(_:)`` lists them without building a dictionary.
package protocol JSONFields {
    /// The member `name`; nil when it is absent or null (as `decodeIfPresent` reads it).
    func member(_ name: String) -> JSONValue?
}

extension JSONValue: JSONFields {
    /// The object's member `name`; nil when it is absent or null (as `decodeIfPresent` reads it).
    package func member(_ name: String) -> JSONValue? {
        guard case .object(let object) = self, let value = object[name], value != .null else { return nil }
        return value
    }
}

/// A top-level object's members in text order. A header or a heartbeat has a handful, and finding
/// one by comparing names costs less than hashing each into a dictionary first.
package struct JSONMembers: JSONFields {
    package var pairs: [(name: String, value: JSONValue)]

    /// The first member called `name`, as JSONDecoder and ``JSONParser`` keep a repeated name's first value.
    package func member(_ name: String) -> JSONValue? {
        for pair in pairs where pair.name == name { return pair.value == .null ? nil : pair.value }
        return nil
    }
}

extension JSONFields {

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

    package func optionalNumber(_ name: String) throws(JSONFieldError) -> Double? {
        guard let value = member(name) else { return nil }
        guard case .number(let number) = value else { throw JSONFieldError(name, expected: "a number") }
        return number
    }

    package func bool(_ name: String) throws(JSONFieldError) -> Bool {
        guard case .bool(let flag)? = member(name) else { throw JSONFieldError(name, expected: "true or false") }
        return flag
    }

    package func optionalBool(_ name: String) throws(JSONFieldError) -> Bool? {
        guard let value = member(name) else { return nil }
        guard case .bool(let flag) = value else { throw JSONFieldError(name, expected: "true or false") }
        return flag
    }

    /// Whole numbers are read exactly only up to 2^53 (a ``JSONParser`` number is a `Double`); a
    /// larger one is refused here, and a caller that must take it reads it with `JSONDecoder`.
    package func unsigned(_ name: String) throws(JSONFieldError) -> UInt64 {
        let number = try number(name)
        guard number < JSONParser.exactIntegerLimit, let value = UInt64(exactly: number) else {
            throw JSONFieldError(name, expected: "a whole number from 0 below 2^53")
        }
        return value
    }

    package func integer(_ name: String) throws(JSONFieldError) -> Int {
        let number = try number(name)
        guard abs(number) < JSONParser.exactIntegerLimit, let value = Int(exactly: number) else {
            throw JSONFieldError(name, expected: "a whole number between -2^53 and 2^53")
        }
        return value
    }

    /// The object's member `name`, a string that must be one of `T`'s raw values. Inlinable, so a
    /// caller in another module (a header's `type`, read per message) gets it specialised instead of
    /// looking up `Optional<T>`'s metadata on every call.
    @inlinable
    package func oneOf<T: RawRepresentable & CaseIterable>(_ name: String, _: T.Type) throws(JSONFieldError) -> T
    where T.RawValue == String {
        guard let value = T(rawValue: try string(name)) else {
            throw JSONFieldError(name, expected: "one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// The object's member `name`, which must be present and an array.
    package func array(_ name: String) throws(JSONFieldError) -> [JSONValue] {
        guard case .array(let items)? = member(name) else { throw JSONFieldError(name, expected: "an array") }
        return items
    }
}
