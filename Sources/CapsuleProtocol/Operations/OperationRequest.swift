package import CapsuleDomain
import Foundation

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

extension OperationRequest: JSONValueDecodable where Params: JSONValueDecodable {
    /// The request from its fields, read as `init(from:)` reads it; absent params read as `{}`.
    package init(fields json: some JSONFields) throws {
        service = try json.string("service")
        op = try json.string("op")
        params = try Params(fields: json.member("params") ?? .object([:]))
    }
}
