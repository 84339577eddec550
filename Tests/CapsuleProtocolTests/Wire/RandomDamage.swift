/// `seed` with one to three bytes replaced, inserted or removed, each drawn from `alphabet`: the
/// fast readings' tests feed these to both readings.
func randomlyDamaged(_ seed: [UInt8], alphabet: [UInt8], using generator: inout some RandomNumberGenerator) -> [UInt8] {
    var bytes = seed
    for _ in 0..<Int.random(in: 1...3, using: &generator) {
        let at = Int.random(in: 0..<bytes.count, using: &generator)
        let byte = alphabet.randomElement(using: &generator)!
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: bytes[at] = byte
        case 1: bytes.insert(byte, at: at)
        default: if bytes.count > 1 { bytes.remove(at: at) }
        }
    }
    return bytes
}
