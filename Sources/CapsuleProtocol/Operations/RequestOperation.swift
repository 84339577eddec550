import CapsuleDomain
import Foundation

/// One request operation of protocol v1: its service, name, role policy, and typed params and result.
package protocol RequestOperation: Sendable {
    associatedtype Params: Codable & Sendable
    associatedtype Result: Codable & Sendable
    /// `broker`, `aggregator` or `audit`.
    static var service: String { get }
    /// The `op` string, such as `command.create`.
    static var name: String { get }
    static var access: Access { get }
}
