package import CapsuleDomain
import Foundation

/// Just the routing part of a `request` body.
package struct RequestHead: Decodable, Sendable {
    package var service: String
    package var op: String
}

extension RequestHead: JSONValueDecodable {
    /// Read through ``JSONParser``: the broker reads one per request, before routing it.
    package init(fields json: some JSONFields) throws(JSONFieldError) {
        service = try json.string("service")
        op = try json.string("op")
    }
}
