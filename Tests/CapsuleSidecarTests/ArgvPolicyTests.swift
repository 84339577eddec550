import CapsuleDomain
import Foundation
import Testing

@testable import CapsuleSidecar

/// A manifest with one action whose argv and input schema are given (flow-style YAML).
func manifest(
    argv: String,
    schema: String = "{type: object, properties: {cmd: {type: string}, file: {type: string}}}"
) -> String {
    """
    code: worker
    name: Worker
    version: "1"
    runtime: sh
    health: {type: tcp, host: 127.0.0.1, port: 9, timeoutSeconds: 1}
    actions:
      - name: run
        argv: \(argv)
        inputSchema: \(schema)
    """
}

/// The one error a manifest was refused with.
func refusal(_ text: String) -> ManifestError? {
    do {
        _ = try ManifestLoader.parse(text, file: "m.yaml")
        return nil
    } catch let error as ManifestError {
        return error
    } catch {
        Issue.record("expected one ManifestError, got \(error)")
        return nil
    }
}

struct ArgvPolicyTests {
    @Test(arguments: [
        #"["${payload.cmd}"]"#,
        #"["${payload.cmd}", "--version"]"#,
        #"["/usr/bin/${payload.cmd}"]"#,
    ])
    func aPlaceholderCannotChooseTheProgram(_ argv: String) throws {
        let error = try #require(refusal(manifest(argv: argv)))
        #expect(error.field == "actions[0].argv[0]")
        #expect(error.reason.contains("a payload placeholder cannot choose what runs"))
    }

    @Test(
        arguments: [
            (#"["/bin/sh", "-c", "${payload.cmd}"]"#, "sh"),
            (#"["sh", "-c", "${payload.cmd}"]"#, "sh"),
            (#"["/usr/bin/bash", "-c", "${payload.cmd}"]"#, "bash"),
            (#"["/usr/bin/env", "${payload.cmd}"]"#, "env"),
            (#"["/usr/bin/env", "FOO=1", "/usr/bin/python3", "${payload.file}"]"#, "env"),
            (#"["python3", "-c", "${payload.cmd}"]"#, "python3"),
            (#"["/usr/bin/python3.11", "-c", "${payload.cmd}"]"#, "python3.11"),
            (#"["/usr/bin/sudo", "/usr/bin/rm", "${payload.file}"]"#, "sudo"),
            (#"["/usr/bin/perl", "-e", "${payload.cmd}"]"#, "perl"),
            (#"["/usr/bin/xargs", "${payload.cmd}"]"#, "xargs"),
            (#"["/bin/sh", "-c", "echo ${payload.cmd}"]"#, "sh"),
        ] as [(String, String)]
    )
    func aPayloadValueNeverReachesACommandInterpreter(argv: String, interpreter: String) throws {
        let error = try #require(refusal(manifest(argv: argv)))
        #expect(error.field == "actions[0].argv")
        #expect(
            error.reason.contains("passes a payload value to \(interpreter), a command interpreter"),
            "\(error.reason)"
        )
    }

    @Test(arguments: [
        #"["/bin/sh", "-c", "systemctl restart worker"]"#,
        #"["/usr/bin/systemctl", "restart", "${payload.file}"]"#,
        #"["/usr/local/bin/deploy", "--", "${payload.file}"]"#,
        #"["/usr/bin/tool", "${payload.file}", "sh"]"#,
        #"["/opt/shell-tools/run", "${payload.cmd}"]"#,
    ])
    func otherArgvAreAccepted(_ argv: String) throws {
        let parsed = try ManifestLoader.parse(manifest(argv: argv), file: "m.yaml")
        #expect(parsed.actions.count == 1)
    }

    @Test(
        arguments: [
            (#"["/usr/bin/printf", "--file=${payload.file}"]"#, 1),
            (#"["/usr/bin/printf", "${payload.file}.bak"]"#, 1),
            (#"["/usr/bin/printf", "x", "${payload.file}${payload.cmd}"]"#, 2),
            (#"["/usr/bin/printf", "${payload.}"]"#, 1),
            (#"["/usr/bin/printf", "${payload.a b}"]"#, 1),
            (#"["/usr/bin/printf", "${file}"]"#, 1),
        ] as [(String, Int)]
    )
    func aPlaceholderMustBeAWholeArgument(argv: String, index: Int) throws {
        let error = try #require(refusal(manifest(argv: argv)))
        #expect(error.field == "actions[0].argv[\(index)]")
        #expect(error.reason == "a placeholder must be a whole argument, exactly ${payload.NAME}")
    }

    @Test func aPlaceholderMustNameAnInputSchemaProperty() throws {
        let error = try #require(refusal(manifest(argv: #"["/bin/echo", "${payload.cmd}", "${payload.missing}"]"#)))
        #expect(error.field == "actions[0].argv[2]")
        #expect(error.reason.contains("${payload.missing} names no property of inputSchema"))
    }

    @Test func aPlaceholderWithoutAnySchemaIsRefused() throws {
        let text = manifest(argv: #"["/bin/echo", "${payload.cmd}"]"#).replacingOccurrences(
            of: "\n    inputSchema: {type: object, properties: {cmd: {type: string}, file: {type: string}}}",
            with: ""
        )
        let error = try #require(refusal(text))
        #expect(error.field == "actions[0].argv[1]")
        #expect(error.reason.contains("names no property of inputSchema"))
    }

    @Test(arguments: [#"[""]"#, #"["   "]"#, #"["", "x"]"#])
    func anEmptyProgramIsRefused(_ argv: String) throws {
        let error = try #require(refusal(manifest(argv: argv)))
        #expect(error.field == "actions[0].argv[0]")
        #expect(error.reason == "must name the program")
    }

    @Test func anEmptyArgvIsRefused() throws {
        let error = try #require(refusal(manifest(argv: "[]")))
        #expect(error.field == "actions[0].argv")
        #expect(error.reason == "must name at least the program")
    }

    @Test func aNonStringArgumentIsRefused() throws {
        let error = try #require(refusal(manifest(argv: #"["/bin/echo", 42]"#)))
        #expect(error.field == "actions[0].argv[1]")
        #expect(error.reason.contains("expected a string, got a number"))
    }

    @Test(arguments: ["oneOf: []", "format: email", "$ref: '#/x'", "patternProperties: {}"])
    func anUnsupportedSchemaKeywordIsRefused(_ keyword: String) throws {
        let name = String(keyword.prefix { $0 != ":" })
        let error = try #require(refusal(manifest(argv: #"["/bin/true"]"#, schema: "{type: object, \(keyword)}")))
        #expect(error.field == "actions[0].inputSchema")
        #expect(error.reason.contains("keyword \(name) is not checked by Capsule"), "\(error.reason)")
    }

    @Test func anInvalidSchemaPatternIsRefused() throws {
        let error = try #require(
            refusal(
                manifest(
                    argv: #"["/bin/true"]"#,
                    schema: "{type: object, properties: {cmd: {type: string, pattern: '([a-z'}}}"
                )
            )
        )
        #expect(error.field == "actions[0].inputSchema")
        #expect(error.reason.contains("$.properties.cmd.pattern: not a valid regular expression"))
    }

    @Test func theHealthCommandIsHeldToTheSameRules() throws {
        let text = manifest(argv: #"["/bin/true"]"#)
            .replacingOccurrences(
                of: "{type: tcp, host: 127.0.0.1, port: 9, timeoutSeconds: 1}",
                with: #"{type: command, argv: ["${payload.cmd}"], timeoutSeconds: 1}"#
            )
        let error = try #require(refusal(text))
        #expect(error.field == "health.argv[0]")
    }
}

struct ArgvSubstitutionTests {
    @Test(arguments: ["-rf", "--force", "-", "--"])
    func aValueThatLooksLikeAnOptionIsRefused(_ value: String) throws {
        guard
            case .failure(let refusal) = Sidecar.substitute(
                ["/usr/bin/rm", "${payload.file}"],
                payload: .object(["file": .string(value)])
            )
        else {
            Issue.record("\(value) reached rm as an option")
            return
        }
        #expect(refusal.message.contains("payload value file starts with '-'"))
    }

    @Test(arguments: ["-rf", "--force", "-"])
    func afterDoubleDashTheValueIsTakenAsIs(_ value: String) {
        #expect(
            Sidecar.substitute(["/usr/bin/rm", "--", "${payload.file}"], payload: .object(["file": .string(value)]))
                == .success(["/usr/bin/rm", "--", value])
        )
    }

    @Test func aDoubleDashAfterThePlaceholderDoesNotCount() {
        let outcome = Sidecar.substitute(
            ["/usr/bin/rm", "${payload.file}", "--"],
            payload: .object(["file": .string("-rf")])
        )
        guard case .failure = outcome else {
            Issue.record("a -- after the placeholder protected it")
            return
        }
    }

    @Test func aNumberThatIsNegativeIsAnOptionToo() {
        guard
            case .failure = Sidecar.substitute(
                ["/usr/bin/scale", "${payload.n}"],
                payload: .object(["n": .number(-3)])
            )
        else {
            Issue.record("-3 was passed where it could be read as an option")
            return
        }
    }

    @Test func aValueWithDashesInsideIsFine() {
        #expect(
            Sidecar.substitute(["/bin/echo", "${payload.name}"], payload: .object(["name": .string("a-b--c")]))
                == .success(["/bin/echo", "a-b--c"])
        )
    }

    @Test func objectsAndArraysBecomeOneCompactJSONArgument() {
        let payload: JSONValue = .object(["spec": .object(["b": .number(2), "a": .array([.bool(true)])])])
        #expect(
            Sidecar.substitute(["/bin/echo", "${payload.spec}"], payload: payload)
                == .success(["/bin/echo", #"{"a":[true],"b":2}"#])
        )
    }

    @Test(
        arguments: [
            ("${payload.name}", "name"), ("${payload.a_b-9}", "a_b-9"), ("${payload.}", nil), ("${payload.a.b}", nil),
            ("$payload.a", nil),
            ("${payload.a} ", nil), ("{payload.a}", nil),
        ] as [(String, String?)]
    )
    func placeholderNames(argument: String, name: String?) {
        #expect(ArgvPolicy.placeholderName(argument) == name)
    }
}
