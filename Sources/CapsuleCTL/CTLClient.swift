import CapsuleDaemon
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation

/// `capsulectl`'s connection: a ``RequestClient`` keyed with the operator's key file.
package typealias CTLClient = RequestClient

extension RequestClient {
    /// Connects as the operator named by `--key` (or the home's local owner key).
    package convenience init(options: CTLOptions) throws {
        let (info, serverKey) = try options.connect.resolveBroker()
        let keyPair: CurveKeyPair
        var name = options.operatorName
        if let keyFile = options.key {
            keyPair = try KeyFile.read(URL(fileURLWithPath: keyFile))
            name = name ?? KeyFile.operatorName(URL(fileURLWithPath: keyFile))
        } else {
            let file = options.connect.capsuleHome.keyFile("operator")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw ErrorBody(.noKey, "no operator key at \(file.path); start capsule-broker with this home first or pass --key FILE")
            }
            keyPair = try KeyFile.read(file)
        }
        try self.init(endpoint: info.router, keyPair: keyPair, serverKey: serverKey, sender: "operator:\(name ?? "local-owner")",
                      timeout: options.requestTimeout, routers: info.pair?.map(\.router))
    }
}
