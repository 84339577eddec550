package import CapsuleDomain

/// A type read straight from a parsed ``JSONValue`` (``JSONParser``) where `JSONDecoder` costs too
/// much: a reply whose result conforms decodes that way (``WireMessage/decodeReply(_:)``). Its
/// `Decodable` conformance stays the reference the two readings must agree with.
package protocol JSONValueDecodable {
    init(jsonValue: JSONValue) throws
}
