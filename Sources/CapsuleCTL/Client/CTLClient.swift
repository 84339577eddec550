import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
package import CapsuleRuntime
import CapsuleZMQ
import Foundation

/// `capsulectl`'s connection: a ``RequestClient`` keyed with the operator's key file.
package typealias CTLClient = RequestClient

extension RequestClient {
    /// Connects as the operator named by `--key` (or the home's local owner key). Fails within
    /// about `--connect-timeout` when the broker cannot be reached, saying why.
    package convenience init(options: CTLOptions) throws {
        let (info, serverKey) = try options.connect.resolveBroker()
        let keyPair: CurveKeyPair
        var name = options.operatorName
        if let keyFile = options.key {
            keyPair = try Self.readKey(keyFile)
            name = name ?? KeyFile.operatorName(URL(fileURLWithPath: keyFile))
        } else {
            let file = options.connect.capsuleHome.keyFile("operator")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw ErrorBody(
                    .noKey,
                    "no operator key at \(file.path); start capsule-broker with this home first, pass --key FILE, or choose a context (capsulectl config get-contexts)"
                )
            }
            keyPair = try Self.readKey(file.path)
        }
        try self.init(
            endpoint: info.router,
            keyPair: keyPair,
            serverKey: serverKey,
            sender: "operator:\(name ?? "local-owner")",
            timeout: options.requestTimeout,
            connectCheck: ConnectCheck(connect: options.connectTimeout, handshake: max(3, options.connectTimeout)),
            routers: info.pair?.map(\.router)
        )
    }

    /// Reads an operator key file; a missing or unreadable file is one line, not a Foundation dump.
    static func readKey(_ path: String) throws -> CurveKeyPair {
        guard FileManager.default.isReadableFile(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable by this user" : "no such file"
            throw ConfigError(
                file: path,
                key: nil,
                reason:
                    "cannot read the operator key file: \(reason) (pass --key with the file capsulectl operator add wrote)"
            )
        }
        return try KeyFile.read(URL(fileURLWithPath: path))
    }
}
