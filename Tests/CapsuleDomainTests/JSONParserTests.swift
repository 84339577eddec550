import CapsuleDomain
import Foundation
import Testing

struct JSONParserTests {
    /// What `JSONDecoder` reads as a ``JSONValue``, the parser reads the same.
    @Test(arguments: [
        #"{}"#, #"[]"#, #"0"#, #"-0"#, #"12.5e-3"#, #"1E2"#, #"-7"#, #"true"#, #"false"#, #"null"#, #""""#,
        #"  {"a" : [1, 2.25, {"b": null}], "c": "d"}  "#,
        #"{"nested":{"deeper":{"deepest":[[[]]]}}}"#,
        #""tab\there \"quoted\" back\\slash \/ \b\f\n\r""#,
        #""\u00e9\u4e2d\ud83d\ude00 é 中 😀""#,
        #"{"publisher":"broker","seq":12,"at":1764650000123,"details":{"kind":"agent","oneTime":true,"n":1.5}}"#,
        #"[9007199254740993, 1e308, 5e-324, 123456789.123456789]"#,
        #"{"a":1,"a":2}"#,
        // Integers read without text (up to 15 digits) and through the standard library (16 and more).
        #"[999999999999999, -999999999999999, 1000000000000000, -1234567890123456, 10, -10, 1764650000123]"#,
        #"{"é":"ünïcode ✓","ascii":"plain"}"#,
    ])
    func readsWhatJSONDecoderReads(_ text: String) throws {
        let data = Data(text.utf8)
        let reference = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(try JSONParser.parse(data) == reference)
    }

    @Test func minusZeroStaysNegative() throws {
        guard case .number(let zero) = try JSONParser.parse(Data("-0".utf8)) else {
            Issue.record("not a number")
            return
        }
        #expect(zero == 0 && zero.sign == .minus)
    }

    @Test func escapesAndSurrogatePairsBecomeTheirCharacters() throws {
        #expect(try JSONParser.parse(Data(#""\ud83d\ude00\u0041\n""#.utf8)) == .string("😀A\n"))
    }

    /// Each is refused with the place and the reason.
    @Test(arguments: [
        ("", "unexpected end"),
        ("01", "leading zero"),
        ("1.", "fraction needs digits"),
        ("-", "number needs digits"),
        (".5", "unexpected character"),
        ("+1", "unexpected character"),
        ("1e", "exponent needs digits"),
        ("1e400", "out of range"),
        ("NaN", "unexpected character"),
        ("tru", "unexpected end"),
        ("nul1", "unexpected character"),
        ("[1,]", "unexpected character"),
        (#"{"a":1,}"#, "expected a member name"),
        (#"{"a" 1}"#, "expected ':'"),
        ("[1 2]", "expected ',' or ']'"),
        (#"{"a":1 "b":2}"#, "expected ',' or '}'"),
        ("[1] x", "text after the value"),
        (#""open"#, "unterminated string"),
        (#""\x""#, "unknown escape"),
        (#""\u12zz""#, "four hex digits"),
        (#""\u12""#, "unterminated string"),
        (#""\ud800""#, "lone surrogate"),
        (#""\udc00""#, "lone surrogate"),
        (#""\ud800\u0041""#, "lone surrogate"),
        ("\"a\u{01}b\"", "control character"),
        ("\"a\tb\"", "control character"),
        ("{'a':1}", "expected a member name"),
    ])
    func refusesWhatIsNotJSON(_ text: String, _ reason: String) {
        #expect {
            _ = try JSONParser.parse(Data(text.utf8))
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".hasPrefix("invalid JSON at byte ")
        }
    }

    @Test func refusesBytesThatAreNotUTF8() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Data([0x22, 0xC3, 0x28, 0x22])) }
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Data([0x22, 0x5C, 0x6E, 0xFF, 0x22])) }
    }

    @Test func nestingIsLimited() throws {
        let deepest =
            String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect(throws: Never.self) { try JSONParser.parse(Data(deepest.utf8)) }
        let tooDeep = "[" + deepest + "]"
        #expect {
            _ = try JSONParser.parse(Data(tooDeep.utf8))
        } throws: { "\($0)".contains("nested deeper than 64") }
    }

    @Test func jsonValueParseUsesIt() throws {
        #expect(try JSONValue.parse(#"{"a":[true]}"#) == .object(["a": .array([.bool(true)])]))
        #expect(throws: JSONParser.Failure.self) { try JSONValue.parse("{") }
    }

    /// A top-level object's members come in text order, each read as ``JSONParser/parse(_:)`` reads
    /// it; a repeated name answers with its first value, and null reads as absent.
    @Test func membersListsATopLevelObject() throws {
        let text = #" {"a":1,"b":{"c":[true]},"a":2,"n":null} "#
        let members = try JSONParser.members(Data(text.utf8))
        #expect(members.pairs.map(\.name) == ["a", "b", "a", "n"])
        #expect(members.member("a") == .number(1))
        #expect(members.member("b") == .object(["c": .array([.bool(true)])]))
        #expect(members.member("n") == nil)
        #expect(members.member("missing") == nil)
        #expect(try JSONParser.parse(Data(text.utf8)).member("a") == members.member("a"))
    }

    @Test(arguments: [
        ("[1]", "expected an object"),
        ("1", "expected an object"),
        ("", "expected an object"),
        (#"{"a":1} x"#, "text after the value"),
        (#"{"a":1,}"#, "expected a member name"),
        (#"{"a":1"#, "expected ',' or '}'"),
    ])
    func membersRefusesWhatIsNotOneObject(_ text: String, _ reason: String) {
        #expect {
            _ = try JSONParser.members(Data(text.utf8))
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}
