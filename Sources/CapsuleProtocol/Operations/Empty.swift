import CapsuleDomain
import Foundation

/// A result that carries nothing.
package struct Empty: Codable, Sendable, Hashable {
    package init() {}
}
