import CSodium
import CapsuleDomain
package import Foundation

/// Hashing, randomness and sealing through libsodium (already a dependency of libzmq's CURVE).
package enum Crypto {
    private static let ready: Bool = sodium_init() >= 0

    /// Lower-case hex SHA-256 of `text`.
    package static func sha256Hex(_ text: String) -> String {
        precondition(ready, "libsodium failed to initialise")
        let input = Array(text.utf8)
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_bytes()))
        _ = crypto_hash_sha256(&out, input, UInt64(input.count))
        return Hex.string(out)
    }

    /// `count` bytes from the system's CSPRNG.
    package static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(ready, "libsodium failed to initialise")
        var bytes = [UInt8](repeating: 0, count: count)
        randombytes_buf(&bytes, count)
        return bytes
    }

    /// A URL-safe random token with `bytes` bytes of entropy, prefixed for recognisability.
    package static func token(prefix: String, bytes: Int = 24) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var bits = 0
        var value = 0
        var out = ""
        for byte in randomBytes(bytes) {
            value = (value << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(value >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(value << (5 - bits)) & 31]) }
        return prefix + out
    }
}

/// Authenticated symmetric encryption (XSalsa20-Poly1305) with one key, for data at rest.
package struct SecretBox: Sendable {
    private let key: [UInt8]

    package static var keyLength: Int { Int(crypto_secretbox_keybytes()) }

    package init?(key: [UInt8]) {
        guard key.count == Self.keyLength else { return nil }
        self.key = key
    }

    package static func generateKey() -> [UInt8] { Crypto.randomBytes(keyLength) }

    /// nonce ‖ ciphertext ‖ tag.
    package func seal(_ plaintext: Data) -> Data {
        let nonce = Crypto.randomBytes(Int(crypto_secretbox_noncebytes()))
        var out = [UInt8](repeating: 0, count: plaintext.count + Int(crypto_secretbox_macbytes()))
        let message = [UInt8](plaintext)
        _ = crypto_secretbox_easy(&out, message, UInt64(message.count), nonce, key)
        return Data(nonce + out)
    }

    /// Opens what ``seal(_:)`` produced; nil when it was tampered with or sealed under another key.
    package func open(_ sealed: Data) -> Data? {
        let nonceLength = Int(crypto_secretbox_noncebytes())
        let bytes = [UInt8](sealed)
        guard bytes.count >= nonceLength + Int(crypto_secretbox_macbytes()) else { return nil }
        let nonce = Array(bytes[..<nonceLength])
        let cipher = Array(bytes[nonceLength...])
        var out = [UInt8](repeating: 0, count: cipher.count - Int(crypto_secretbox_macbytes()))
        guard crypto_secretbox_open_easy(&out, cipher, UInt64(cipher.count), nonce, key) == 0 else { return nil }
        return Data(out)
    }
}
