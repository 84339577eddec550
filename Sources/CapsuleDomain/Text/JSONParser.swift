package import Foundation

/// JSON text (RFC 8259) to ``JSONValue`` in one pass over the bytes.
///
/// `JSONDecoder` decodes a ``JSONValue`` by trying each case in turn, and every miss builds a
/// `DecodingError`: about 20 µs for an audit event's four-key details, most of an event's decoding
/// (Benchmarks/README.md). This parser reads the same grammar directly. It is strict where
/// `JSONDecoder` is: invalid UTF-8, control characters in strings, lone surrogates, leading zeros,
/// trailing commas and anything after the value are errors. Nesting is limited to `maxDepth`.
package struct JSONParser {
    /// Why a text is not JSON, and where.
    package struct Failure: Error, CustomStringConvertible {
        package var offset: Int
        package var reason: String
        package var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    package static let maxDepth = 64
    /// 2^53: whole numbers below it in magnitude are exact in a `Double`, so a JSON number is read
    /// as an integer only below it (``JSONFields/unsigned(_:)``, ``Reader/unsigned()``).
    package static let exactIntegerLimit: Double = 9_007_199_254_740_992

    /// Parses one JSON value filling the whole of `data` (white space around it aside).
    package static func parse(_ data: Data) throws(Failure) -> JSONValue {
        let bytes = copy(data)
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.failure("text after the value") }
        return value
    }

    /// The members of a top-level object, in text order, without building its dictionary (nested
    /// values are parsed as ``parse(_:)`` parses them). Throws as ``parse(_:)`` does, and when the
    /// value is not an object.
    package static func members(_ data: Data) throws(Failure) -> JSONMembers {
        let bytes = copy(data)
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        guard parser.current == UInt8(ascii: "{") else { throw parser.failure("expected an object") }
        var members = JSONMembers(pairs: [])
        members.pairs.reserveCapacity(12)
        try parser.object(depth: 1) { name, value in members.pairs.append((name, value)) }
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.failure("text after the value") }
        return members
    }

    private let bytes: [UInt8]
    private var index = 0

    /// The bytes of `data`, copied at once (`[UInt8](data)` goes byte by byte through `Data`'s iterator).
    private static func copy(_ data: Data) -> [UInt8] {
        data.withUnsafeBytes { Array($0) }
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func failure(_ reason: String) -> Failure { Failure(offset: index, reason: reason) }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard let byte = current else { throw failure("unexpected end") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) throws(Failure) -> JSONValue {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("unexpected end") }
        let matches = word.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw failure("unexpected character") }
        index += count
        return value
    }

    private mutating func object(depth: Int) throws(Failure) -> JSONValue {
        var members: [String: JSONValue] = [:]
        // A repeated name keeps its first value, as JSONDecoder does: the defaulted subscript's
        // modify accessor inserts the value only when the name is new, in one lookup.
        func keep(_: inout JSONValue) {}
        try object(depth: depth) { key, member in keep(&members[key, default: member]) }
        return .object(members)
    }

    /// An object's members, each handed to `member` in text order; `index` is at the opening brace.
    private mutating func object(
        depth: Int,
        _ member: (String, JSONValue) -> Void
    ) throws(Failure) {
        guard depth <= Self.maxDepth else { throw failure("nested deeper than \(Self.maxDepth)") }
        index += 1
        skipSpace()
        if current == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a member name") }
            let key = try string()
            skipSpace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':'") }
            index += 1
            skipSpace()
            member(key, try value(depth: depth))
            skipSpace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw failure("expected ',' or '}'")
            }
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> JSONValue {
        guard depth <= Self.maxDepth else { throw failure("nested deeper than \(Self.maxDepth)") }
        index += 1
        var elements: [JSONValue] = []
        skipSpace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipSpace()
            elements.append(try value(depth: depth))
            skipSpace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            default: throw failure("expected ',' or ']'")
            }
        }
    }

    /// A string token; `index` is at its opening quote.
    private mutating func string() throws(Failure) -> String {
        index += 1
        let start = index
        // The common case: no escapes. The bytes are checked to be UTF-8 once, at the end, unless
        // they are all ASCII (no byte with its high bit set), which is UTF-8 as it stands.
        var high: UInt8 = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = try utf8(start..<index, ascii: high < 0x80)
                index += 1
                return text
            }
            high |= byte
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw failure("control character in a string") }
            index += 1
        }
        var scalars = [UInt8](bytes[start..<index])
        while true {
            guard index < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: scalars, as: UTF8.self) else {
                    throw Failure(offset: start, reason: "a string that is not UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard let escape = current else { throw failure("unterminated string") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"): scalars.append(contentsOf: try unicodeEscape())
                default: throw failure("unknown escape")
                }
            default:
                guard byte >= 0x20 else { throw failure("control character in a string") }
                scalars.append(byte)
                index += 1
            }
        }
    }

    private func utf8(_ range: Range<Int>, ascii: Bool) throws(Failure) -> String {
        if ascii {
            return bytes.withUnsafeBufferPointer {
                String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self)
            }
        }
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw Failure(offset: range.lowerBound, reason: "a string that is not UTF-8")
        }
        return text
    }

    /// The code point of a `\u` escape and its four hex digits (a surrogate pair takes two escapes),
    /// as UTF-8; `index` is after the `u`.
    private mutating func unicodeEscape() throws(Failure) -> [UInt8] {
        var code = try hex4()
        if (0xD800...0xDBFF).contains(code) {
            guard index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw failure("a lone surrogate") }
            index += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw failure("a lone surrogate") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(code) {
            throw failure("a lone surrogate")
        }
        guard let scalar = Unicode.Scalar(code) else { throw failure("not a code point") }
        var encoded: [UInt8] = []
        UTF8.encode(scalar) { encoded.append($0) }
        return encoded
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("unterminated string") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape needs four hex digits")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    /// The value of an integer token (an optional minus, then digits) of at most 15 digits, or nil.
    private static func smallInteger(_ token: ArraySlice<UInt8>) -> Double? {
        let negative = token.first == UInt8(ascii: "-")
        let digits = negative ? token.dropFirst() : token
        guard digits.count <= 15 else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        // "-0" stays a negative zero, as the standard library reads it.
        return negative ? -Double(value) : Double(value)
    }

    /// A number token, checked against the grammar, then converted by the standard library.
    private mutating func number() throws(Failure) -> Double {
        let start = index
        func digits() -> Int {
            let from = index
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
            return index - from
        }
        if current == UInt8(ascii: "-") { index += 1 }
        if current == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() > 0 else { throw failure("a number needs digits") }
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw failure("a fraction needs digits") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw failure("an exponent needs digits") }
        }
        if let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            throw failure("a number with a leading zero")
        }
        // An integer of up to 15 digits (times, sequence numbers, counts) is exact in a Double:
        // no text to build and convert.
        if let integer = Self.smallInteger(bytes[start..<index]) { return integer }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let number = Double(text), number.isFinite else {
            throw Failure(offset: start, reason: "a number out of range")
        }
        return number
    }
}

extension JSONParser {
    /// A JSON text read member by member by a type that knows its shape, through the same grammar
    /// and checks as ``JSONParser/parse(_:)``, without building a dictionary for each object: the
    /// caller takes each member's value as the type it expects. Any value can still be read whole
    /// (``value()``). A mismatch (not the type asked for) throws, as malformed text does.
    package struct Reader {
        private var parser: JSONParser
        private var depth = 0

        package init(_ data: Data) {
            parser = JSONParser(bytes: JSONParser.copy(data))
            parser.skipSpace()
        }

        /// The object here, each member handed to `member` with the reader at its value, which
        /// `member` must read exactly once.
        package mutating func object(_ member: (String, inout Reader) throws -> Void) throws {
            try entries(UInt8(ascii: "{"), UInt8(ascii: "}"), "an object") { reader in
                guard reader.parser.current == UInt8(ascii: "\"") else {
                    throw reader.parser.failure("expected a member name")
                }
                let name = try reader.parser.string()
                reader.parser.skipSpace()
                guard reader.parser.current == UInt8(ascii: ":") else { throw reader.parser.failure("expected ':'") }
                reader.parser.index += 1
                reader.parser.skipSpace()
                try member(name, &reader)
            }
        }

        /// The array here, `element` called with the reader at each element, which it must read.
        package mutating func array(_ element: (inout Reader) throws -> Void) throws {
            try entries(UInt8(ascii: "["), UInt8(ascii: "]"), "an array", element)
        }

        /// The entries between `open` and `close`, separated by commas, `entry` called at each.
        private mutating func entries(
            _ open: UInt8,
            _ close: UInt8,
            _ what: String,
            _ entry: (inout Reader) throws -> Void
        ) throws {
            guard parser.current == open else { throw parser.failure("expected \(what)") }
            depth += 1
            defer { depth -= 1 }
            guard depth <= JSONParser.maxDepth else {
                throw parser.failure("nested deeper than \(JSONParser.maxDepth)")
            }
            parser.index += 1
            parser.skipSpace()
            if parser.current == close {
                parser.index += 1
                return
            }
            while true {
                parser.skipSpace()
                try entry(&self)
                parser.skipSpace()
                switch parser.current {
                case UInt8(ascii: ","): parser.index += 1
                case close:
                    parser.index += 1
                    return
                default: throw parser.failure("expected ',' or '\(Character(Unicode.Scalar(close)))'")
                }
            }
        }

        package mutating func string() throws -> String {
            guard parser.current == UInt8(ascii: "\"") else { throw parser.failure("expected a string") }
            return try parser.string()
        }

        package mutating func number() throws -> Double {
            guard let byte = parser.current, byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte) else {
                throw parser.failure("expected a number")
            }
            return try parser.number()
        }

        /// The `true` or `false` here.
        package mutating func bool() throws -> Bool {
            switch parser.current {
            case UInt8(ascii: "t"):
                _ = try parser.literal("true", .bool(true))
                return true
            case UInt8(ascii: "f"):
                _ = try parser.literal("false", .bool(false))
                return false
            default: throw parser.failure("expected true or false")
            }
        }

        /// The whole number from 0 below 2^53 here, the range ``JSONFields/unsigned(_:)`` reads exactly.
        package mutating func unsigned() throws -> UInt64 {
            let start = parser.index
            let number = try number()
            guard number < JSONParser.exactIntegerLimit, let value = UInt64(exactly: number) else {
                throw Failure(offset: start, reason: "expected a whole number from 0 below 2^53")
            }
            return value
        }

        /// The whole number between -2^53 and 2^53 here, the range ``JSONFields/integer(_:)`` reads.
        package mutating func integer() throws -> Int {
            let start = parser.index
            let number = try number()
            guard abs(number) < JSONParser.exactIntegerLimit, let value = Int(exactly: number) else {
                throw Failure(offset: start, reason: "expected a whole number between -2^53 and 2^53")
            }
            return value
        }

        /// The string here, or nil for `null` (as ``JSONFields/optionalString(_:)`` reads it).
        package mutating func optionalString() throws -> String? {
            try null() ? nil : try string()
        }

        /// The value here, whole, or nil for `null` (as ``JSONFields/member(_:)`` reads it).
        package mutating func optionalValue() throws -> JSONValue? {
            let value = try value()
            return value == .null ? nil : value
        }

        /// The whole of `data` read by `body` from its first value, nil when `body` throws or text
        /// follows the value: a shape reading declines, and its caller reads the text in full.
        package static func read<T>(_ data: Data, _ body: (inout Reader) throws -> T) -> T? {
            var reader = Reader(data)
            guard let value = try? body(&reader), (try? reader.end()) != nil else { return nil }
            return value
        }

        /// Whether the value here is `null`, which is then read.
        package mutating func null() throws -> Bool {
            guard parser.current == UInt8(ascii: "n") else { return false }
            _ = try parser.literal("null", .null)
            return true
        }

        /// The value here, whole.
        package mutating func value() throws -> JSONValue { try parser.value(depth: depth) }

        /// Throws unless only white space is left.
        package mutating func end() throws {
            parser.skipSpace()
            guard parser.index == parser.bytes.count else { throw parser.failure("text after the value") }
        }
    }
}
