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

/// A reply's result that can also be read straight from the JSON text in its usual shape
/// (``JSONParser/Reader``), without building a dictionary per object. ``WireMessage/decodeReply(_:)``
/// tries this reading first and falls back to ``JSONValueDecodable/init(fields:)`` when it throws:
/// where it gives a value, it must be the one the full reading gives (tests hold the two together).
package protocol ShapeReadable: JSONValueDecodable {
    /// The value from the reader, positioned at it; throws on any other shape.
    init(reading reader: inout JSONParser.Reader) throws
}
