import CZeroMQ

/// A 32-byte CURVE key, printable as 40 Z85 characters.
package struct CurveKey: Sendable, Hashable, CustomStringConvertible {
    package let bytes: [UInt8]

    package init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Decodes a 40-character Z85 string.
    package init?(z85: String) {
        let text = Array(z85.utf8CString)
        guard text.count == 41 else { return nil }
        var output = [UInt8](repeating: 0, count: 32)
        let ok = text.withUnsafeBufferPointer { zmq_z85_decode(&output, $0.baseAddress) != nil }
        guard ok else { return nil }
        self.bytes = output
    }

    package var z85: String {
        var output = [CChar](repeating: 0, count: 41)
        _ = bytes.withUnsafeBufferPointer { zmq_z85_encode(&output, $0.baseAddress, 32) }
        return String(decoding: output.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    package var description: String { z85 }
}

/// A CURVE key pair.
package struct CurveKeyPair: Sendable, Hashable {
    package let publicKey: CurveKey
    package let secretKey: CurveKey

    package init(publicKey: CurveKey, secretKey: CurveKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Generates a fresh key pair with libzmq (libsodium underneath).
    package static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        if zmq_curve_keypair(&publicText, &secretText) != 0 { throw ZMQError.last("zmq_curve_keypair") }
        let pub = String(decoding: publicText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let sec = String(decoding: secretText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return CurveKeyPair(publicKey: CurveKey(z85: pub)!, secretKey: CurveKey(z85: sec)!)
    }

    /// Derives the public key from a secret key.
    package static func from(secretKey: CurveKey) throws(ZMQError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        let secretText = Array(secretKey.z85.utf8CString)
        let rc = secretText.withUnsafeBufferPointer { zmq_curve_public(&publicText, $0.baseAddress) }
        if rc != 0 { throw ZMQError.last("zmq_curve_public") }
        let pub = String(decoding: publicText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return CurveKeyPair(publicKey: CurveKey(z85: pub)!, secretKey: secretKey)
    }
}
