import CapsuleDomain
import Foundation
import Testing

struct JSONWriterTests {
    static let values: [JSONValue] = [
        .null, .bool(true), .number(0), .number(-12), .number(1.5), .number(1e21), .number(-2.5e-7),
        .number(9_007_199_254_740_992), .number(1.8e19), .string(""),
        .string("quote \" back\\slash / tab\t nl\n cr\r \u{01}\u{1f} é 中 😀"),
        .array([]), .object([:]),
        .object(["b": .array([.number(1), .null, .object(["z": .bool(false), "a": .string("x")])]), "a": .number(2)]),
    ]

    /// The text reads back as the same value, both through ``JSONParser`` and through JSONDecoder.
    @Test(arguments: values) func writesTextThatReadsBackAsTheValue(_ value: JSONValue) throws {
        let text = value.jsonText
        #expect(try JSONParser.parse(Data(text.utf8)) == value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) == value)
    }

    @Test func membersAreSortedAndWholeNumbersHaveNoFraction() {
        let value = JSONValue.object(["b": .number(2), "a": .array([.number(1.0), .number(0.5)]), "c": .null])
        #expect(value.jsonText == #"{"a":[1,0.5],"b":2,"c":null}"#)
    }

    @Test func controlCharactersAreEscapedAndSlashesAreNot() {
        #expect(JSONValue.string("a/b\u{00}\u{1b}\n").jsonText == #""a/b\u0000\u001b\n""#)
    }
}
