import CapsuleDomain
import Testing

struct SafeTextTests {
    @Test(
        arguments: [
            ("plain text", "plain text"),
            ("line\nforged", "line\\nforged"),
            ("cr\rlf", "cr\\rlf"),
            ("tab\there", "tab\\there"),
            ("esc\u{1b}[31mred", "esc\\u{1b}[31mred"),
            ("nul\u{0}", "nul\\u{0}"),
            ("del\u{7f}", "del\\u{7f}"),
            ("c1\u{85}next", "c1\\u{85}next"),
            ("js line\u{2028}separator", "js line\\u{2028}separator"),
            ("para\u{2029}graph", "para\\u{2029}graph"),
            ("émoji 🚀 stays", "émoji 🚀 stays"),
        ] as [(String, String)]
    )
    func controlCharactersAreEscaped(input: String, output: String) {
        #expect(SafeText.clean(input) == output)
    }

    @Test func textWithinTheLimitIsUntouched() {
        let text = String(repeating: "a", count: 100)
        #expect(SafeText.clean(text, limit: 100) == text)
    }

    /// Splits cut text into what was kept and the byte count its marker names.
    static func marker(_ text: String) -> (kept: String, cut: Int)? {
        guard let match = text.firstMatch(of: /…\[cut ([0-9]+) bytes\]$/), let cut = Int(match.1) else { return nil }
        return (String(text[..<match.range.lowerBound]), cut)
    }

    @Test(arguments: [100, 1_024, 40])
    func longTextIsCutWithAMarkerNamingTheBytesLeftOutAndStaysWithinTheLimit(limit: Int) throws {
        let text = String(repeating: "a", count: 3 * limit)
        let cut = SafeText.clean(text, limit: limit)
        #expect(cut.utf8.count <= limit, "the marker counts towards the limit")
        let (kept, left) = try #require(Self.marker(cut))
        #expect(text.hasPrefix(kept))
        #expect(kept.utf8.count + left == text.utf8.count)
        #expect(kept.utf8.count >= limit - 24, "no more is cut than the marker needs")
    }

    @Test func theCutFallsOnACharacterBoundary() throws {
        // "é" is 2 bytes and "🚀" 4: whatever the limit, no character is split.
        for limit in 30...60 {
            for text in [
                String(repeating: "é", count: 60), String(repeating: "🚀", count: 30),
                "abc" + String(repeating: "é🚀", count: 20),
            ] {
                let cut = SafeText.clean(text, limit: limit)
                let (kept, left) = try #require(Self.marker(cut), "\(limit)")
                #expect(text.hasPrefix(kept), "limit \(limit)")
                #expect(kept.utf8.count + left == text.utf8.count)
                #expect(cut.utf8.count <= limit)
            }
        }
    }

    @Test func escapesCountTowardsTheLimit() throws {
        // Each newline becomes two bytes once escaped.
        let cut = SafeText.clean(String(repeating: "\n", count: 60), limit: 100)
        #expect(cut.utf8.count <= 100)
        let (kept, left) = try #require(Self.marker(cut))
        #expect(kept.allSatisfy { $0 == "\\" || $0 == "n" } && kept.utf8.count % 2 == 0, "no escape is split")
        #expect(kept.utf8.count / 2 + left == 60, "the marker counts the original bytes left out")
    }

    @Test func textThatFitsOnlyOnceEscapedIsNotCut() {
        #expect(SafeText.clean(String(repeating: "\n", count: 50), limit: 100) == String(repeating: "\\n", count: 50))
    }

    /// Cleaning what was cleaned changes nothing, so an event bounded twice is the same event.
    @Test(arguments: [5, 20, 40, 64, 100, 256, 1_024])
    func cleaningIsIdempotent(limit: Int) {
        for text in [
            "short", String(repeating: "x\n", count: 3_000), String(repeating: "é", count: 500),
            "tab\t" + String(repeating: "🚀", count: 90),
        ] {
            let once = SafeText.clean(text, limit: limit)
            #expect(SafeText.clean(once, limit: limit) == once, "limit \(limit)")
            #expect(once.utf8.count <= limit)
        }
    }

    @Test func quotedWrapsTheCleanedText() {
        #expect(SafeText.quoted("a\"b\nc", limit: 80) == "\"a\"b\\nc\"")
        let quoted = SafeText.quoted(String(repeating: "x", count: 200), limit: 40)
        #expect(quoted.hasPrefix("\"xxxx") && quoted.hasSuffix(" bytes]\"") && quoted.utf8.count <= 42)
    }

    @Test func jsonIsCleanedKeysAndValuesAtEveryDepth() {
        let dirty: JSONValue = .object([
            "msg\n": .string("a\u{1b}b"),
            "list": .array([.string("x\ry"), .number(1), .bool(true), .null, .object(["deep": .string("\u{2028}")])]),
        ])
        let clean = SafeText.clean(dirty, limit: 10)
        #expect(
            clean
                == .object([
                    "msg\\n": .string("a\\u{1b}b"),
                    "list": .array([
                        .string("x\\ry"), .number(1), .bool(true), .null, .object(["deep": .string("\\u{2028}")]),
                    ]),
                ])
        )
        let long = SafeText.clean(JSONValue.object(["long": .string(String(repeating: "z", count: 300))]), limit: 40)
        #expect(long["long"]?.stringValue?.hasPrefix("zzzz") == true)
        #expect(long["long"]?.stringValue?.utf8.count ?? 0 <= 40)
    }

    @Test func theDefaultLimits() {
        #expect(SafeText.clean(String(repeating: "r", count: 2_000)).utf8.count <= SafeText.reasonLimit)
        let detail = SafeText.clean(JSONValue.string(String(repeating: "d", count: 5_000)))
        #expect(
            detail.stringValue.map {
                $0.utf8.count <= SafeText.detailLimit && $0.utf8.count > SafeText.detailLimit - 32
            } == true
        )
    }
}
