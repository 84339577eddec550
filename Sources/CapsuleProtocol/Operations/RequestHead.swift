import CapsuleDomain
import Foundation

/// Just the routing part of a `request` body.
package struct RequestHead: Decodable, Sendable {
    package var service: String
    package var op: String
}
