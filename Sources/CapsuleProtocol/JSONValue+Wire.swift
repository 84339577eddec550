import CapsuleDomain

extension JSONValue {
    /// Converts any Encodable value to a JSON value (for replies).
    package static func encoding(_ value: some Encodable) -> JSONValue {
        (try? WireCodec.fromJSON(JSONValue.self, WireCodec.json(value))) ?? .null
    }

    package var intValue: Int? {
        if case .number(let number) = self { return Int(number) }
        return nil
    }
}
