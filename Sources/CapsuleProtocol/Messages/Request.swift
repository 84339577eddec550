package import CapsuleDomain
import Foundation

/// `request`: an operation on a named service (`broker`, `aggregator`, `audit`), Majordomo-style.
package struct Request: Codable, Sendable, Hashable {
    package var service: String
    package var op: String
    package var params: JSONValue
    /// Set by the broker when it forwards a request: who asked (`operator:NAME`, or a service name).
    package var caller: String?

    package init(service: String, op: String, params: JSONValue = .object([:]), caller: String? = nil) {
        self.service = service
        self.op = op
        self.params = params
        self.caller = caller
    }
}
