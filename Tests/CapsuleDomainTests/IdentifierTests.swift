import CapsuleDomain
import Testing

struct IdentifierTests {
    @Test(arguments: [
        "a", "0", "billing", "billing-bridge", "report_worker.v2", "9lives", "a-", "a.", "a_",
        String(repeating: "a", count: 64), "x" + String(repeating: "-", count: 63),
    ])
    func valid(_ text: String) {
        #expect(Identifier.isValid(text))
        #expect(throws: Never.self) { try Identifier.validate(text, as: "service code") }
    }

    @Test(arguments: [
        "", String(repeating: "a", count: 65), "Billing", "billinG", "-lead", ".lead", "_lead", "with space",
        "new\nline", "line\n",
        "tab\t", "slash/", "colon:", "star*", "é", "ａ", "emoji🚀", "a\u{0}", "semi;rm", "$(x)", "agt_1\r",
    ])
    func invalid(_ text: String) {
        #expect(!Identifier.isValid(text))
        #expect(throws: IdentifierError.self) { try Identifier.validate(text, as: "agent code") }
    }

    @Test func thePatternIsTheDocumentedOne() {
        #expect(Identifier.pattern == "^[a-z0-9][a-z0-9._-]{0,63}$")
        #expect(Identifier.maxLength == 64)
    }

    /// The hand-written check and the documented regular expression agree on every table row.
    @Test(arguments: [
        "a", "billing-bridge", String(repeating: "a", count: 64), String(repeating: "a", count: 65), "", "Billing",
        "-x", "new\nline",
        "x.y_z-0", "é",
    ])
    func theCheckAgreesWithThePattern(_ text: String) throws {
        let regex = try Regex(Identifier.pattern)
        #expect(Identifier.isValid(text) == (text.wholeMatch(of: regex) != nil && !text.contains("\n")))
    }

    @Test func theErrorIsOneLineNamingWhatAndTheEscapedValue() throws {
        let error = try #require(throws: IdentifierError.self) {
            try Identifier.validate("Bad\nCode", as: "agent code")
        }
        #expect(error.what == "agent code")
        #expect(error.value == "Bad\nCode")
        #expect(error.description.hasPrefix("agent code \"Bad\\nCode\" is not a valid identifier"))
        #expect(!error.description.contains("\n"))
    }

    @Test func aHugeValueIsCutInTheError() {
        let error = IdentifierError(what: "service code", value: String(repeating: "X", count: 10_000))
        #expect(error.description.utf8.count < 300)
    }
}
