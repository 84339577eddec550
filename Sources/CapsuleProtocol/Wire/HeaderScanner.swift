import CapsuleDomain
package import Foundation

/// A header in the shape every Capsule peer writes it, read in one pass over the bytes without
/// building JSON values: the members `v`, `type`, `id`, `sender`, `ts`, `seq` and optionally `corr`
/// and `caller`, each once, in any order; strings of printable ASCII without escapes; whole numbers
/// in plain digits below 2^53. Anything else (an escape, a byte outside printable ASCII, another
/// member, a repeated one, `null`, a fraction, an exponent, a sign) gives nil, and
/// ``WireCodec/decodeHeader(_:)`` reads the header through ``JSONParser`` as before, which accepts
/// what JSON allows and says what is wrong with the rest. So this reading never accepts a header the
/// other refuses, nor reads one differently (`HeaderScannerTests` holds both to that).
///
/// Every message's header is decoded once per hop; on the heartbeat path that was about a fifth of
/// the aggregator's loop thread (Benchmarks/README.md).
package enum HeaderScanner {
    package static func scan(_ data: Data) -> Header? {
        data.withUnsafeBytes { raw in
            var scanner = Cursor(bytes: raw.bindMemory(to: UInt8.self))
            return scanner.header()
        }
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        /// The largest whole numbers JSONFields reads exactly stay below it.
        static let exactLimit = UInt64(JSONParser.exactIntegerLimit)

        mutating func header() -> Header? {
            skipSpace()
            guard take(UInt8(ascii: "{")) else { return nil }
            var v: UInt64?
            var type: MessageType?
            var id: String?
            var sender: String?
            var ts: UInt64?
            var seq: UInt64?
            var corr: String?
            var caller: String?
            var seen: UInt8 = 0
            while true {
                skipSpace()
                guard let name = stringBytes() else { return nil }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                guard let member = Self.member(name), seen & (1 << member) == 0 else { return nil }
                seen |= 1 << member
                switch member {
                case 0:
                    guard let number = wholeNumber() else { return nil }
                    v = number
                case 1:
                    guard let text = string(), let parsed = MessageType(rawValue: text) else { return nil }
                    type = parsed
                case 2:
                    guard let text = string() else { return nil }
                    id = text
                case 3:
                    guard let text = string() else { return nil }
                    sender = text
                case 4:
                    guard let number = wholeNumber() else { return nil }
                    ts = number
                case 5:
                    guard let number = wholeNumber() else { return nil }
                    seq = number
                case 6:
                    guard let text = string() else { return nil }
                    corr = text
                default:
                    guard let text = string() else { return nil }
                    caller = text
                }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                break
            }
            skipSpace()
            guard index == bytes.count, let v, let type, let id, let sender, let ts, let seq else { return nil }
            var header = Header(type: type, id: id, sender: sender, ts: Int64(ts), seq: seq, corr: corr, caller: caller)
            header.v = Int(v)
            return header
        }

        /// The member's number in the order `header()` switches on, or nil for any other name.
        private static func member(_ name: UnsafeBufferPointer<UInt8>) -> Int? {
            for (number, known) in names.enumerated() where known.count == name.count {
                if known.withUnsafeBufferPointer({ $0.elementsEqual(name) }) { return number }
            }
            return nil
        }

        private static let names: [[UInt8]] = ["v", "type", "id", "sender", "ts", "seq", "corr", "caller"].map {
            Array($0.utf8)
        }

        private mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        private mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// A string's bytes, when it is all printable ASCII without a backslash.
        private mutating func stringBytes() -> UnsafeBufferPointer<UInt8>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)])
                }
                guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
                index += 1
            }
            return nil
        }

        private mutating func string() -> String? {
            stringBytes().map { String(decoding: $0, as: UTF8.self) }
        }

        /// Plain digits with no leading zero, below 2^53, not followed by a fraction or an exponent.
        private mutating func wholeNumber() -> UInt64? {
            let start = index
            var value: UInt64 = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                guard index - start < 16 else { return nil }
                value = value * 10 + UInt64(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            let digits = index - start
            guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0"), value < Self.exactLimit else {
                return nil
            }
            if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
                default: break
                }
            }
            return value
        }
    }
}
