import CapsuleDaemon
import CapsuleRuntime
import Foundation
import Testing

struct ConfigArgumentsTests {
    let known: Set<String> = ["home", "log-level", "heartbeat-seconds", "trust-service", "check"]
    let repeatable: Set<String> = ["trust-service"]

    private func file(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsule-config-\(UUID().uuidString).yaml"
        )
        try Data(text.utf8).write(to: url)
        return url.path
    }

    private func value(_ flag: String, in arguments: [String]) -> [String] {
        arguments.indices.filter { arguments[$0] == "--\(flag)" && $0 + 1 < arguments.count }.map { arguments[$0 + 1] }
    }

    @Test func flagsBeatEnvironmentWhichBeatsTheFile() throws {
        let path = try file("home: /from-file\nlog-level: debug\nheartbeat-seconds: 5\n")
        let arguments = try ConfigArguments.resolve(
            ["--config", path, "--home", "/from-flag"],
            environment: ["CAPSULE_LOG_LEVEL": "warning", "CAPSULE_HOME": "/from-env", "CAPSULE_UNRELATED": "x"],
            knownFlags: known,
            repeatableFlags: repeatable
        )
        #expect(value("home", in: arguments) == ["/from-flag"])
        #expect(value("log-level", in: arguments) == ["warning"])
        #expect(value("heartbeat-seconds", in: arguments) == ["5"])
        #expect(!arguments.contains("--config"))
        #expect(!arguments.contains("--unrelated"))
    }

    @Test func listsOnlyForRepeatableFlagsAndBooleansBecomeFlags() throws {
        let path = try file("trust-service: [aggregator=a.pub, audit=b.pub]\ncheck: true\n")
        let arguments = try ConfigArguments.resolve(
            ["--config=\(path)"],
            environment: [:],
            knownFlags: known,
            repeatableFlags: repeatable
        )
        #expect(value("trust-service", in: arguments) == ["aggregator=a.pub", "audit=b.pub"])
        #expect(arguments.contains("--check"))
        let bad = try file("heartbeat-seconds: [1, 2]\n")
        #expect(throws: ConfigError(file: bad, key: "heartbeat-seconds", reason: "takes one value, not a list")) {
            try ConfigArguments.resolve(
                ["--config", bad],
                environment: [:],
                knownFlags: known,
                repeatableFlags: repeatable
            )
        }
    }

    @Test func unknownKeysAndBadFilesAreNamed() throws {
        let typo = try file("log_level: debug\n")
        do {
            _ = try ConfigArguments.resolve(["--config", typo], environment: [:], knownFlags: known)
            Issue.record("an unknown key was accepted")
        } catch let error as ConfigError {
            #expect(error.file == typo)
            #expect(error.key == "log_level")
            #expect(error.reason.contains("did you mean log-level"))
        }
        let notMapping = try file("- a\n- b\n")
        #expect(throws: ConfigError.self) {
            try ConfigArguments.resolve(["--config", notMapping], environment: [:], knownFlags: known)
        }
        #expect(throws: ConfigError.self) {
            try ConfigArguments.resolve(["--config", "/nonexistent.yaml"], environment: [:], knownFlags: known)
        }
    }

    @Test func helpTextYieldsFlagsAndRepeatables() {
        let help = """
            OPTIONS:
              --home <home>           Capsule home.
              --trust-service <trust-service>
                                      Trust a service (repeatable).
              -h, --help              Show help information.
            """
        #expect(ConfigArguments.knownFlags(in: help) == ["home", "trust-service", "help"])
        #expect(ConfigArguments.repeatableFlags(in: help) == ["trust-service"])
    }
}
