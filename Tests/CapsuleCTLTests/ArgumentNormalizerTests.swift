import ArgumentParser
import CapsuleCTL
import Testing

/// Global options anywhere, and one-line usage errors for misspelt commands (kubectl's habits).
struct ArgumentNormalizerTests {
    let normalizer = ArgumentNormalizer(
        root: CapsuleCTLCommand.self,
        globalOptionsHelp: CTLOptions.helpMessage(columns: 10_000)
    )

    @Test func theGlobalOptionsAreReadFromTheHelpText() {
        let options = ArgumentNormalizer.options(inHelp: CTLOptions.helpMessage(columns: 10_000))
        let names = Set(options.flatMap(\.names))
        for name in [
            "--home", "--router", "--broker-key", "--key", "--context", "-o", "--output", "--json", "--no-headers",
            "--timeout",
        ] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(options.first { $0.names.contains("--json") }?.takesValue == false)
        #expect(options.first { $0.names.contains("-o") }?.takesValue == true)
    }

    @Test(arguments: [
        (["--json", "status"], ["status", "--json"]),
        (["status", "--json"], ["status", "--json"]),
        (
            ["--home", "/h", "-o", "yaml", "status", "--status", "HEALTHY"],
            ["status", "--status", "HEALTHY", "--home", "/h", "-o", "yaml"]
        ),
        (
            ["-o", "wide", "action", "run", "billing", "flush-cache", "--confirm"],
            ["action", "run", "billing", "flush-cache", "--confirm", "-o", "wide"]
        ),
        (["--output=json", "audit", "--since", "1h"], ["audit", "--since", "1h", "--output=json"]),
        (["--json", "audit", "export", "--format", "csv"], ["audit", "export", "--format", "csv", "--json"]),
        (["command", "--timeout", "3", "show", "cmd_1"], ["command", "show", "cmd_1", "--timeout", "3"]),
    ])
    func globalOptionsMoveAfterTheSubcommand(_ given: [String], _ expected: [String]) throws {
        let normalized = try normalizer.normalize(given)
        #expect(normalized.arguments == expected)
        #expect(normalized.runnable)
    }

    @Test func bareHelpAndGroupsPrintHelpWithoutTheGlobalOptions() throws {
        #expect(try normalizer.normalize([]) == .init(arguments: [], path: [], runnable: false))
        #expect(try normalizer.normalize(["--home", "/h"]).arguments == [])
        #expect(
            try normalizer.normalize(["--home", "/h", "help", "status"])
                == .init(arguments: ["help", "status"], path: [], runnable: false)
        )
        #expect(try normalizer.normalize(["token", "--json"]).runnable == false)
        #expect(try normalizer.normalize(["--version"]).arguments == ["--version"])
        #expect(
            try normalizer.normalize(["---completion", "status", "--", "x"]).arguments == [
                "---completion", "status", "--", "x",
            ]
        )
    }

    @Test func aMisspeltCommandIsOneUsageLineWithASuggestion() {
        #expect(throws: CTLError(.usage, "unknown command 'stauts' (did you mean 'status'?); see 'capsulectl --help'"))
        {
            try normalizer.normalize(["--home", "/h", "stauts"])
        }
        #expect(
            throws: CTLError(
                .usage,
                "unknown command 'creat' for 'capsulectl token' (did you mean 'create'?); see 'capsulectl token --help'"
            )
        ) {
            try normalizer.normalize(["token", "creat"])
        }
        #expect(throws: CTLError.self) { try normalizer.normalize(["frobnicate"]) }
    }
}
