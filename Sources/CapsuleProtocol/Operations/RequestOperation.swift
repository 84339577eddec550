import CapsuleDomain

/// Who may call an operation (docs/security.md, "Roles"). The broker checks it for every request,
/// in one place (``OperationPolicy``), before it answers or routes.
package enum Access: Sendable, Hashable {
    /// Operators holding at least this role, and internal services.
    case role(OperatorRole)
    /// Only these internal services (for instance the audit writer for `journal.ack`).
    case internalOnly(Set<String>)
}

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

/// Params of an operation that takes none.
package struct NoParams: Codable, Sendable, Hashable {
    package init() {}
}

/// A result that carries nothing.
package struct Empty: Codable, Sendable, Hashable {
    package init() {}
}

/// The `request` body with typed params, as clients send it and handlers decode it.
package struct OperationRequest<Params: Codable & Sendable>: Codable, Sendable {
    package var service: String
    package var op: String
    package var params: Params

    package init(service: String, op: String, params: Params) {
        self.service = service
        self.op = op
        self.params = params
    }

    private enum CodingKeys: String, CodingKey { case service, op, params }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        service = try container.decode(String.self, forKey: .service)
        op = try container.decode(String.self, forKey: .op)
        if container.contains(.params) {
            params = try container.decode(Params.self, forKey: .params)
        } else {
            // Absent params read as `{}`.
            params = try WireCodec.decoder.decode(Params.self, from: Data("{}".utf8))
        }
    }
}

/// Just the routing part of a `request` body.
package struct RequestHead: Decodable, Sendable {
    package var service: String
    package var op: String
}

import Foundation
