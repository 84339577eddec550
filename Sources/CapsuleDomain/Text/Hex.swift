/// Lower-case hexadecimal, two digits per byte, by table lookup (a `String(format: "%02x")` per
/// byte costs about a microsecond each). Token hashes, secrets, JSON's `\u00XX` escapes and
/// PostgreSQL's `\x` byte literals all write through it.
package enum Hex {
    /// The sixteen digits, as ASCII bytes.
    package static let digits = Array("0123456789abcdef".utf8)

    /// `bytes` as hex digits.
    package static func string(_ bytes: some Collection<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            var index = 0
            for byte in bytes {
                buffer[index] = digits[Int(byte >> 4)]
                buffer[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }
}
