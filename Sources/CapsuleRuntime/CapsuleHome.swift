package import CapsuleZMQ
package import Foundation

/// The directory that holds a node's keys, configuration and data (`--home`, `CAPSULE_HOME`,
/// default `~/.capsule`). Processes that share a home find each other with no other flag.
package struct CapsuleHome: Sendable, Hashable {
    package let url: URL

    package init(path: String?) {
        let chosen =
            path ?? ProcessInfo.processInfo.environment["CAPSULE_HOME"]
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".capsule")
        url = URL(fileURLWithPath: (chosen as NSString).expandingTildeInPath, isDirectory: true)
    }

    package var keysDirectory: URL { url.appendingPathComponent("keys", isDirectory: true) }
    package var dataDirectory: URL { url.appendingPathComponent("data", isDirectory: true) }
    package var brokerInfoFile: URL { url.appendingPathComponent("broker.json") }

    package func keyFile(_ name: String) -> URL { keysDirectory.appendingPathComponent("\(name).key") }
    package func database(_ name: String) -> URL { dataDirectory.appendingPathComponent("\(name).sqlite") }

    /// Creates the home and its subdirectories with owner-only permissions.
    package func prepare() throws {
        for directory in [url, keysDirectory, dataDirectory] {
            try FileManager.default.createDirectory(
                at: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        }
    }

    /// Loads the named key pair, creating it (mode 0600) on first use.
    package func loadOrCreateKeyPair(_ name: String) throws -> CurveKeyPair {
        try prepare()
        let file = keyFile(name)
        if FileManager.default.fileExists(atPath: file.path) {
            return try KeyFile.read(file)
        }
        let pair = try CurveKeyPair.generate()
        try KeyFile.write(pair, to: file)
        // The public half alone, to hand to a broker on another host (`--trust-service`, `--broker-key`).
        _ = FileManager.default.createFile(
            atPath: keysDirectory.appendingPathComponent("\(name).pub").path,
            contents: Data((pair.publicKey.z85 + "\n").utf8)
        )
        return pair
    }
}

/// The on-disk form of a CURVE key pair: JSON `{"public": Z85, "secret": Z85}`, mode 0600.
package enum KeyFile {
    private struct Contents: Codable {
        var `public`: String
        var secret: String?
        /// For operator key files: the operator name and role they were issued with.
        var name: String?
        var role: String?
    }

    /// The operator name recorded in a key file, if any.
    package static func operatorName(_ file: URL) -> String? {
        guard let data = try? Data(contentsOf: file) else { return nil }
        return (try? JSONDecoder().decode(Contents.self, from: data))?.name
    }

    /// A key file's text, for handing an operator key over.
    package static func text(_ pair: CurveKeyPair, name: String? = nil, role: String? = nil) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data =
            (try? encoder.encode(
                Contents(public: pair.publicKey.z85, secret: pair.secretKey.z85, name: name, role: role)
            )) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    package static func read(_ file: URL) throws -> CurveKeyPair {
        let data = try Data(contentsOf: file)
        guard let contents = try? JSONDecoder().decode(Contents.self, from: data),
            let secretText = contents.secret, let secret = CurveKey(z85: secretText),
            let pub = CurveKey(z85: contents.public)
        else {
            throw ConfigError(
                file: file.path,
                key: "secret",
                reason: "not a Capsule key file (expected JSON with Z85 \"public\" and \"secret\")"
            )
        }
        let pair = try CurveKeyPair.from(secretKey: secret)
        guard pair.publicKey == pub else {
            throw ConfigError(file: file.path, key: "public", reason: "public key does not match the secret key")
        }
        return pair
    }

    /// Reads just a public key: a key file, a `.pub` file or a bare Z85 string.
    package static func readPublicKey(_ text: String) throws -> CurveKey {
        if let key = CurveKey(z85: text.trimmingCharacters(in: .whitespacesAndNewlines)) { return key }
        let url = URL(fileURLWithPath: text)
        guard let data = try? Data(contentsOf: url) else {
            throw ConfigError(file: text, key: nil, reason: "not a Z85 public key, and no such readable file")
        }
        if let contents = try? JSONDecoder().decode(Contents.self, from: data), let key = CurveKey(z85: contents.public)
        {
            return key
        }
        if let key = CurveKey(
            z85: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        ) {
            return key
        }
        throw ConfigError(file: text, key: "public", reason: "not a Z85 public key or key file")
    }

    package static func write(_ pair: CurveKeyPair, to file: URL, name: String? = nil, role: String? = nil) throws {
        let data = Data(text(pair, name: name, role: role).utf8)
        let created = FileManager.default.createFile(
            atPath: file.path,
            contents: data,
            attributes: [.posixPermissions: 0o600]
        )
        if !created { throw ConfigError(file: file.path, key: nil, reason: "cannot write key file") }
    }
}
