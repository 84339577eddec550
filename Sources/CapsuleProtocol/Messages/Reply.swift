package import CapsuleDomain
import Foundation

/// `reply`: the answer to a request. Exactly one of `result` and `error` is set.
package struct Reply: Codable, Sendable, Hashable {
    package var ok: Bool
    package var result: JSONValue?
    package var error: ErrorBody?

    package init(result: JSONValue) {
        self.ok = true
        self.result = result
    }

    package init(error: ErrorBody) {
        self.ok = false
        self.error = error
    }
}
