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
