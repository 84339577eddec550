import CapsuleDomain
import Foundation

/// The reply to `token.create`: the raw token, shown this once, and its stored record.
package struct TokenCreated: Codable, Sendable, Hashable {
    package var token: String
    package var record: TokenRecord
    package init(token: String, record: TokenRecord) {
        self.token = token
        self.record = record
    }
}
