import CapsuleDomain
import Testing

struct SchemaCase: Sendable, CustomTestStringConvertible {
    var name: String
    var payload: String
    var path: String
    var reason: String

    var testDescription: String { name }
}

struct JSONSchemaValidatorTests {
    static let schema: JSONValue = try! JSONValue.parse(
        """
        {
          "type": "object",
          "required": ["reason", "replicas"],
          "additionalProperties": false,
          "properties": {
            "reason": {"type": "string", "minLength": 3, "maxLength": 20},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
            "ratio": {"type": "number", "minimum": 0.5},
            "mode": {"enum": ["fast", "safe"]},
            "list": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            "nested": {"type": "object", "properties": {"n": {"type": ["number", "null"]}}},
            "flag": {"type": "boolean"}
          }
        }
        """
    )

    static let failures: [SchemaCase] = [
        .init(name: "not an object", payload: #""scale""#, path: "$", reason: "expected object, got string"),
        .init(name: "array instead of object", payload: "[]", path: "$", reason: "expected object, got array"),
        .init(name: "required missing", payload: #"{"replicas": 2}"#, path: "$.reason", reason: "is required"),
        .init(
            name: "second required missing",
            payload: #"{"reason": "load"}"#,
            path: "$.replicas",
            reason: "is required"
        ),
        .init(
            name: "string for integer",
            payload: #"{"reason": "load", "replicas": "3"}"#,
            path: "$.replicas",
            reason: "expected integer, got string"
        ),
        .init(
            name: "fraction for integer",
            payload: #"{"reason": "load", "replicas": 1.5}"#,
            path: "$.replicas",
            reason: "expected integer, got number"
        ),
        .init(
            name: "bool for string",
            payload: #"{"reason": true, "replicas": 1}"#,
            path: "$.reason",
            reason: "expected string, got boolean"
        ),
        .init(
            name: "null for boolean",
            payload: #"{"reason": "load", "replicas": 1, "flag": null}"#,
            path: "$.flag",
            reason: "expected boolean, got null"
        ),
        .init(
            name: "below minimum",
            payload: #"{"reason": "load", "replicas": 0}"#,
            path: "$.replicas",
            reason: "must be >= 1"
        ),
        .init(
            name: "above maximum",
            payload: #"{"reason": "load", "replicas": 11}"#,
            path: "$.replicas",
            reason: "must be <= 10"
        ),
        .init(
            name: "fractional minimum",
            payload: #"{"reason": "load", "replicas": 1, "ratio": 0.25}"#,
            path: "$.ratio",
            reason: "must be >= 0.5"
        ),
        .init(
            name: "too short",
            payload: #"{"reason": "ab", "replicas": 1}"#,
            path: "$.reason",
            reason: "must be at least 3 characters"
        ),
        .init(
            name: "too long",
            payload: #"{"reason": "abcdefghijklmnopqrstu", "replicas": 1}"#,
            path: "$.reason",
            reason: "must be at most 20 characters"
        ),
        .init(
            name: "not in enum",
            payload: #"{"reason": "load", "replicas": 1, "mode": "slow"}"#,
            path: "$.mode",
            reason: #"must be one of "fast", "safe""#
        ),
        .init(
            name: "additional property",
            payload: #"{"reason": "load", "replicas": 1, "force": true}"#,
            path: "$.force",
            reason: "is not an allowed property"
        ),
        .init(
            name: "item of wrong type",
            payload: #"{"reason": "load", "replicas": 1, "list": ["a", 2, "c"]}"#,
            path: "$.list[1]",
            reason: "expected string, got integer"
        ),
        .init(
            name: "too few items",
            payload: #"{"reason": "load", "replicas": 1, "list": []}"#,
            path: "$.list",
            reason: "must have at least 1 items"
        ),
        .init(
            name: "too many items",
            payload: #"{"reason": "load", "replicas": 1, "list": ["a", "b", "c", "d"]}"#,
            path: "$.list",
            reason: "must have at most 3 items"
        ),
        .init(
            name: "nested type list",
            payload: #"{"reason": "load", "replicas": 1, "nested": {"n": "x"}}"#,
            path: "$.nested.n",
            reason: "expected number or null, got string"
        ),
    ]

    @Test(arguments: failures)
    func violation(_ row: SchemaCase) throws {
        let payload = try JSONValue.parse(row.payload)
        let violation = try #require(throws: SchemaViolation.self) {
            try JSONSchemaValidator.validate(payload, against: Self.schema)
        }
        #expect(violation.path == row.path)
        #expect(violation.reason == row.reason)
        #expect(violation.description == "\(row.path): \(row.reason)")
    }

    static let valid = [
        #"{"reason": "load", "replicas": 1}"#,
        #"{"reason": "abc", "replicas": 10, "ratio": 0.5, "mode": "safe", "list": ["x"], "nested": {"n": null, "other": 1}, "flag": false}"#,
        #"{"reason": "exactly twenty chars", "replicas": 5.0, "list": ["a", "b", "c"], "nested": {"n": 2.5}}"#,
    ]

    @Test(arguments: valid)
    func validPayloadPasses(_ text: String) throws {
        let payload = try JSONValue.parse(text)
        #expect(throws: Never.self) { try JSONSchemaValidator.validate(payload, against: Self.schema) }
    }

    @Test func nonObjectSchemaAcceptsAnything() throws {
        #expect(throws: Never.self) { try JSONSchemaValidator.validate(.string("x"), against: .bool(true)) }
        #expect(throws: Never.self) { try JSONSchemaValidator.validate(.number(1), against: .object([:])) }
    }

    @Test func additionalPropertiesAllowedByDefault() throws {
        let schema = try JSONValue.parse(#"{"type": "object", "properties": {"a": {"type": "string"}}}"#)
        #expect(throws: Never.self) { try JSONSchemaValidator.validate(.object(["b": .number(1)]), against: schema) }
    }

    @Test func integerAcceptsWholeNumbersAndNumberAcceptsIntegers() throws {
        let integer = JSONValue.object(["type": .string("integer")])
        let number = JSONValue.object(["type": .string("number")])
        #expect(throws: Never.self) { try JSONSchemaValidator.validate(.number(3), against: integer) }
        #expect(throws: Never.self) { try JSONSchemaValidator.validate(.number(3), against: number) }
        #expect(throws: SchemaViolation.self) { try JSONSchemaValidator.validate(.number(3.1), against: integer) }
    }

    @Test func pathAccumulatesThroughNestedArraysAndObjects() throws {
        let schema = try JSONValue.parse(
            """
            {"type": "object", "properties": {"targets": {"type": "array", "items":
              {"type": "object", "required": ["host"], "properties": {"host": {"type": "string"}}}}}}
            """
        )
        let payload = try JSONValue.parse(#"{"targets": [{"host": "a"}, {"host": "b"}, {"port": 1}]}"#)
        let violation = try #require(throws: SchemaViolation.self) {
            try JSONSchemaValidator.validate(payload, against: schema)
        }
        #expect(violation.path == "$.targets[2].host")
        #expect(violation.reason == "is required")
    }
}

struct JSONSchemaPatternTests {
    static let schema: JSONValue = .object(["type": .string("string"), "pattern": .string("^[a-z]+-[0-9]{2}$")])

    @Test(arguments: ["web-01", "db-99"])
    func aMatchingStringPasses(_ text: String) {
        #expect(throws: Never.self) { try JSONSchemaValidator.validate(.string(text), against: Self.schema) }
    }

    @Test(arguments: ["web-1", "Web-01", "web-01x", "", "web-01\nrm"])
    func aStringThatDoesNotMatchFailsNamingThePattern(_ text: String) throws {
        let violation = try #require(throws: SchemaViolation.self) {
            try JSONSchemaValidator.validate(.string(text), against: Self.schema)
        }
        #expect(violation.path == "$")
        #expect(violation.reason == "must match the pattern ^[a-z]+-[0-9]{2}$")
    }

    /// JSON Schema patterns are ECMA-262: without the `m` flag, `$` is the end of the text only. (ICU's
    /// `$` also matches before a final line terminator, which would let `"web-01\n"` through.)
    @Test(arguments: ["web-01\n", "web-01\r\n", "web-01\r", "web-01\u{2028}", "web-01\u{85}"])
    func aTrailingLineBreakDoesNotSatisfyAnAnchoredPattern(_ text: String) throws {
        let violation = try #require(throws: SchemaViolation.self) {
            try JSONSchemaValidator.validate(.string(text), against: Self.schema)
        }
        #expect(violation.path == "$")
    }

    @Test(
        arguments: [
            ("^a\\$$", "a$", true), ("^[$]+$", "$$", true), ("^[a$]+$", "a$a", true), ("^a$|^b$", "b", true),
            ("^a\\$$", "a", false), ("^[$]+$", "$$\n", false),
        ] as [(String, String, Bool)]
    )
    func aDollarThatIsEscapedOrInAClassIsALiteral(pattern: String, text: String, matches: Bool) {
        let schema: JSONValue = .object(["pattern": .string(pattern)])
        if matches {
            #expect(throws: Never.self) { try JSONSchemaValidator.validate(.string(text), against: schema) }
        } else {
            #expect(throws: SchemaViolation.self) { try JSONSchemaValidator.validate(.string(text), against: schema) }
        }
    }

    @Test func anUnanchoredPatternMatchesAnywhereAsInECMAScript() {
        let schema: JSONValue = .object(["pattern": .string("[0-9]")])
        #expect(throws: Never.self) { try JSONSchemaValidator.validate(.string("abc1def"), against: schema) }
        #expect(throws: SchemaViolation.self) { try JSONSchemaValidator.validate(.string("abcdef"), against: schema) }
    }

    @Test func aPatternAppliesOnlyToStrings() {
        #expect(throws: Never.self) {
            try JSONSchemaValidator.validate(.number(5), against: .object(["pattern": .string("^x$")]))
        }
    }

    @Test func aPatternInANestedPropertyNamesItsPath() throws {
        let schema: JSONValue = .object(["properties": .object(["host": Self.schema])])
        let violation = try #require(throws: SchemaViolation.self) {
            try JSONSchemaValidator.validate(.object(["host": .string("nope")]), against: schema)
        }
        #expect(violation.path == "$.host")
    }

    @Test func anInvalidPatternFailsClosedAtValidation() throws {
        let violation = try #require(throws: SchemaViolation.self) {
            try JSONSchemaValidator.validate(.string("x"), against: .object(["pattern": .string("([unclosed")]))
        }
        #expect(violation.reason == "the schema's pattern is not a valid regular expression")
    }

    @Test func aLongPatternIsCutInTheMessage() throws {
        let pattern = "^" + String(repeating: "a", count: 200) + "$"
        let violation = try #require(throws: SchemaViolation.self) {
            try JSONSchemaValidator.validate(.string("b"), against: .object(["pattern": .string(pattern)]))
        }
        #expect(violation.reason.contains("…[cut"))
        #expect(violation.reason.utf8.count < 150)
    }
}

struct JSONSchemaUnsupportedTests {
    @Test func theSupportedSubsetHasNoProblems() throws {
        #expect(JSONSchemaValidator.unsupported(in: JSONSchemaValidatorTests.schema).isEmpty)
        let annotated = try JSONValue.parse(
            #"""
            {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "T", "description": "d", "type": "object",
             "properties": {"a": {"type": "string", "pattern": "^[a-z]+$", "default": "x", "examples": ["y"]}}}
            """#
        )
        #expect(JSONSchemaValidator.unsupported(in: annotated).isEmpty)
    }

    @Test(arguments: [
        "oneOf", "anyOf", "allOf", "not", "if", "$ref", "format", "patternProperties", "const", "exclusiveMinimum",
        "multipleOf", "dependentRequired", "uniqueItems",
    ])
    func aKeywordThatIsNotCheckedIsNamed(_ keyword: String) throws {
        let problems = JSONSchemaValidator.unsupported(in: .object(["type": .string("object"), keyword: .bool(true)]))
        #expect(problems.count == 1)
        let problem = try #require(problems.first)
        #expect(problem.hasPrefix("$: keyword \(keyword) is not checked by Capsule"))
        #expect(problem.contains("supported: "))
    }

    @Test func problemsAreFoundAtAnyDepthWithTheirPath() {
        let schema: JSONValue = .object([
            "type": .string("object"),
            "properties": .object([
                "list": .object(["type": .string("array"), "items": .object(["format": .string("email")])]),
                "name": .object(["type": .string("string"), "pattern": .string("(unclosed"), "const": .string("x")]),
            ]),
            "oneOf": .array([]),
        ])
        #expect(
            JSONSchemaValidator.unsupported(in: schema).map { String($0.prefix { $0 != " " }) } == [
                "$:", "$.properties.list.items:", "$.properties.name:", "$.properties.name.pattern:",
            ]
        )
    }

    @Test func aNonObjectSchemaHasNothingToReport() {
        #expect(JSONSchemaValidator.unsupported(in: .bool(true)).isEmpty)
    }
}
