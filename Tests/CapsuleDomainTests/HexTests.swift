import CapsuleDomain
import Foundation
import Testing

struct HexTests {
    @Test func hexIsTwoLowerCaseDigitsPerByteAsAFormatStringWritesThem() {
        #expect(Hex.string([UInt8]()) == "")
        #expect(Hex.string([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        let every = (0...255).map { UInt8($0) }
        #expect(Hex.string(every) == every.map { String(format: "%02x", $0) }.joined())
    }
}
