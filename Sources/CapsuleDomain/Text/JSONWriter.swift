package import Foundation

/// Compact JSON written in one pass into a byte buffer, for the values that cross the hot paths (a
/// header on every message, an audit event per state change). `JSONEncoder` builds a tree of boxed
/// values first and costs several times as much (Benchmarks/README.md). The text has the protocol's
/// conventions: whole numbers up to 2^53 without a fraction, as `JSONEncoder` writes them; slashes
/// not escaped; object members of a ``JSONValue`` in sorted order.
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    package var data: Data { Data(bytes) }

    package mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    package mutating func byte(_ value: UInt8) { bytes.append(value) }

    /// Opens an object; members follow with ``member(_:first:)``.
    package mutating func beginObject() { bytes.append(UInt8(ascii: "{")) }
    package mutating func endObject() { bytes.append(UInt8(ascii: "}")) }

    /// Writes `"key":`, preceded by a comma unless it is the object's first member. Keys are the
    /// writer's own ASCII literals and need no escaping.
    package mutating func key(_ key: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    package mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte == 0x22 || byte == 0x5C || byte < 0x20 else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                escape(byte)
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Escapes by UTF-8 byte: the bytes that need it (quote, backslash, controls) are ASCII and never
    /// occur inside a multi-byte sequence.
    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
        case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        default:
            bytes.append(contentsOf: [
                0x5C, UInt8(ascii: "u"), 0x30, 0x30, Hex.digits[Int(byte >> 4)], Hex.digits[Int(byte & 0x0F)],
            ])
        }
    }

    package mutating func integer(_ value: some BinaryInteger) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A number as `JSONEncoder` writes a `Double`; a value that is not finite becomes `null`.
    package mutating func number(_ value: Double) {
        if value.isFinite, value.rounded() == value, abs(value) < 9_007_199_254_740_992 {
            integer(Int64(value))
        } else if value.isFinite {
            bytes.append(contentsOf: value.description.utf8)
        } else {
            raw("null")
        }
    }

    /// A date as the protocol writes it: milliseconds since the Unix epoch.
    package mutating func date(_ value: Date) { number(value.timeIntervalSince1970 * 1_000) }

    package mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): flag ? raw("true") : raw("false")
        case .number(let number): self.number(number)
        case .string(let text): string(text)
        case .array(let values): array(values)
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                string(key)
                bytes.append(UInt8(ascii: ":"))
                self.value(members[key]!)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }
}

/// A value that writes its own JSON with ``JSONWriter``, the same text `JSONEncoder` would give up to
/// member order and number spelling, in a fraction of the time. ``WireCodec`` prefers it.
package protocol JSONWritable: Encodable {
    func write(into writer: inout JSONWriter)
}

extension JSONWritable {
    /// The value's JSON.
    package var jsonData: Data {
        var writer = JSONWriter()
        write(into: &writer)
        return writer.data
    }
}

extension JSONValue {
    /// Compact JSON text, object members in sorted order, written in one pass (see ``JSONWriter``).
    package var jsonText: String {
        var writer = JSONWriter()
        writer.value(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

extension JSONValue: JSONWritable {
    package func write(into writer: inout JSONWriter) { writer.value(self) }
}

extension JSONWriter {
    /// `[…]`, each element writing itself.
    package mutating func array(_ elements: [some JSONWritable]) {
        bytes.append(UInt8(ascii: "["))
        for (index, element) in elements.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            element.write(into: &self)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `"key":value`, after a comma unless it is the object's `first` member. A nil value writes
    /// nothing, as `encodeIfPresent` leaves it out.
    package mutating func field(_ key: StaticString, _ value: String?, first: Bool = false) {
        guard let value else { return }
        self.key(key, first: first)
        string(value)
    }

    package mutating func field<I: BinaryInteger>(_ key: StaticString, _ value: I?, first: Bool = false) {
        guard let value else { return }
        self.key(key, first: first)
        integer(value)
    }

    package mutating func field(_ key: StaticString, _ value: Double?, first: Bool = false) {
        guard let value else { return }
        self.key(key, first: first)
        number(value)
    }

    package mutating func field(_ key: StaticString, _ value: Bool?, first: Bool = false) {
        guard let value else { return }
        self.key(key, first: first)
        value ? raw("true") : raw("false")
    }

    package mutating func field(_ key: StaticString, _ value: Date?, first: Bool = false) {
        guard let value else { return }
        self.key(key, first: first)
        date(value)
    }

    /// A present ``JSONValue``, `.null` included, is written; only a nil one is left out.
    package mutating func field(_ key: StaticString, _ value: JSONValue?, first: Bool = false) {
        guard let value else { return }
        self.key(key, first: first)
        self.value(value)
    }
}
