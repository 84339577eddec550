package import CapsuleDomain
package import Foundation

/// `reply` with a typed result: the same wire shape as ``Reply``, but encoded from and decoded into
/// the result's own type directly, without a detour through ``JSONValue``.
package struct TypedReply<Result> {
    package var ok: Bool
    package var result: Result?
    package var error: ErrorBody?

    package init(result: Result) {
        self.ok = true
        self.result = result
    }

    package init(error: ErrorBody) {
        self.ok = false
        self.error = error
    }
}

extension TypedReply: Encodable where Result: Encodable {}
extension TypedReply: Decodable where Result: Decodable {}
extension TypedReply: Sendable where Result: Sendable {}

extension TypedReply where Result: Encodable {
    /// The body of a successful reply whose result is already JSON (a journal page of stored events):
    /// the bytes `TypedReply(result:)` encodes to, without decoding and encoding the result again.
    package static func body(encodedResult json: Data) -> Data {
        var body = Data(#"{"ok":true,"result":"#.utf8)
        body.reserveCapacity(json.count + 24)
        body.append(json)
        body.append(UInt8(ascii: "}"))
        return body
    }
}

extension TypedReply: JSONWritable where Result: JSONWritable {
    /// The members the synthesised `encode(to:)` writes, in its order.
    package func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("ok", ok, first: true)
        if let result {
            writer.key("result")
            result.write(into: &writer)
        }
        if let error {
            writer.key("error")
            error.write(into: &writer)
        }
        writer.endObject()
    }
}
