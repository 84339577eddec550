import CapsuleDomain
import Foundation

/// Params of an operation that takes none.
package struct NoParams: Codable, Sendable, Hashable {
    package init() {}
}
