package import CapsuleDomain

/// A type read straight from parsed JSON (``JSONParser``) where `JSONDecoder` costs too much: a
/// message body or a reply's result that conforms decodes that way (``WireMessage/decode(_:)``,
/// ``WireMessage/decodeReply(_:)``). Its `Decodable` conformance stays the reference the two
/// readings must agree with.
package protocol JSONValueDecodable {
    /// The value from its fields: a parsed object, or a top-level object's members.
    init(fields: some JSONFields) throws
}

extension JSONValueDecodable {
    /// The value from a parsed ``JSONValue``.
    package init(jsonValue: JSONValue) throws { try self.init(fields: jsonValue) }
}
