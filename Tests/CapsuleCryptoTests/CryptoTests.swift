import CapsuleCrypto
import Foundation
import Testing

struct CryptoTests {
    /// FIPS 180-2 test vectors.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func sha256MatchesKnownVectors(input: String, digest: String) {
        #expect(Crypto.sha256Hex(input) == digest)
    }

    @Test func sha256OfUTF8Text() {
        // The UTF-8 bytes of "é" are c3 a9.
        #expect(Crypto.sha256Hex("é") != Crypto.sha256Hex("e"))
        #expect(Crypto.sha256Hex("é").count == 64)
    }

    @Test func randomBytesHaveTheLengthAskedFor() {
        #expect(Crypto.randomBytes(0).isEmpty)
        #expect(Crypto.randomBytes(32).count == 32)
        #expect(Crypto.randomBytes(32) != Crypto.randomBytes(32))
    }

    @Test func tokensArePrefixedBase32OfTheEntropyAskedFor() {
        let token = Crypto.token(prefix: "cap_")
        #expect(token.hasPrefix("cap_"))
        // 24 bytes are 192 bits: 39 characters of 5 bits (the last one partly filled).
        #expect(token.count == 4 + 39)
        #expect(token.dropFirst(4).allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
        #expect(Crypto.token(prefix: "x", bytes: 5).count == 1 + 8, "40 bits are exactly 8 characters")
        #expect(Crypto.token(prefix: "", bytes: 1).count == 2)
    }

    @Test func tokensAreUnique() {
        let tokens = (0..<1_000).map { _ in Crypto.token(prefix: "cap_") }
        #expect(Set(tokens).count == tokens.count)
    }
}

struct SecretBoxTests {
    @Test func sealedDataOpensWithTheSameKey() throws {
        let box = try #require(SecretBox(key: SecretBox.generateKey()))
        let plain = Data("the payload, secrets included".utf8)
        let sealed = box.seal(plain)
        #expect(sealed != plain)
        #expect(sealed.range(of: plain) == nil, "the plaintext does not appear in the sealed bytes")
        #expect(box.open(sealed) == plain)
        #expect(box.open(box.seal(Data())) == Data())
    }

    @Test func eachSealUsesAFreshNonce() throws {
        let box = try #require(SecretBox(key: SecretBox.generateKey()))
        let plain = Data("same".utf8)
        #expect(box.seal(plain) != box.seal(plain))
    }

    @Test func anyTamperedByteIsRefused() throws {
        let box = try #require(SecretBox(key: SecretBox.generateKey()))
        let sealed = box.seal(Data("do not touch".utf8))
        for index in sealed.indices {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(box.open(tampered) == nil, "byte \(index) was changed and still opened")
        }
    }

    @Test func anotherKeyOrATruncatedBoxIsRefused() throws {
        let box = try #require(SecretBox(key: SecretBox.generateKey()))
        let other = try #require(SecretBox(key: SecretBox.generateKey()))
        let sealed = box.seal(Data("x".utf8))
        #expect(other.open(sealed) == nil)
        #expect(box.open(sealed.dropLast()) == nil)
        #expect(box.open(Data()) == nil)
        #expect(box.open(Data(count: 10)) == nil)
    }

    @Test func aKeyOfTheWrongLengthIsRefused() {
        #expect(SecretBox.keyLength == 32)
        #expect(SecretBox(key: []) == nil)
        #expect(SecretBox(key: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(SecretBox(key: [UInt8](repeating: 1, count: 33)) == nil)
        #expect(SecretBox(key: [UInt8](repeating: 1, count: 32)) != nil)
    }
}
