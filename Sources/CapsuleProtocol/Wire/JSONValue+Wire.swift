package import CapsuleDomain

extension JSONValue {
    /// Converts any Encodable value to a JSON value (for replies).
    package static func encoding(_ value: some Encodable) -> JSONValue {
        (try? WireCodec.fromJSON(JSONValue.self, WireCodec.json(value))) ?? .null
    }

}
