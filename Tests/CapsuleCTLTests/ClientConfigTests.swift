import CapsuleCTL
import Foundation
import Testing

/// Contexts, as kubeconfig has them.
struct ClientConfigTests {
    let sample = """
        current-context: local
        contexts:
          - name: local
            home: ~/capsule-home
          - name: prod
            router: tcp://capsule.example.net:7403
            broker-key: /etc/capsule/broker.pub
            key: ~/.config/capsule/alice.key
            operator-name: alice
        """

    private func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsule-ctx-\(UUID().uuidString.prefix(8)).yaml"
        ).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aFileParsesWithPathsExpanded() throws {
        let config = try ClientConfig.parse(sample, file: "f", environment: ["HOME": "/home/op"])
        #expect(config.currentContext == "local")
        #expect(config.contexts.map(\.name) == ["local", "prod"])
        #expect(config.context(named: "local")?.settings["home"] == "/home/op/capsule-home")
        #expect(config.context(named: "prod")?.settings["key"] == "/home/op/.config/capsule/alice.key")
        #expect(try ClientConfig.parse(config.yaml(), file: "f") == config)
    }

    @Test(arguments: [
        ("contexts: [", "f: not valid YAML"),
        ("- a\n- b", "f: expected a mapping"),
        ("contexts:\n  - home: /x", "f: contexts[0] needs a name"),
        ("contexts:\n  - name: a\n    hom: /x", "f: context 'a': unknown key 'hom'"),
        ("current-context: b\ncontexts:\n  - name: a", "f: current-context 'b' names no context"),
        ("colour: blue", "f: unknown key 'colour'"),
    ])
    func aMalformedFileIsOneUsageLine(_ text: String, _ start: String) {
        do {
            _ = try ClientConfig.parse(text, file: "f")
            Issue.record("parsed")
        } catch {
            #expect(error.exitCode == .usage)
            #expect(error.message.hasPrefix(start), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func theCurrentContextFillsWhatNothingElseSet() throws {
        let path = try write(sample)
        let prepared = try CTLMain.prepare(
            ["status"],
            environment: ["CAPSULE_CLIENT_CONFIG": path, "HOME": "/home/op"]
        )
        #expect(Self.values("--home", prepared.arguments) == ["/home/op/capsule-home"])
        // A CAPSULE_HOME variable beats the implicit current context.
        let withVariable = try CTLMain.prepare(
            ["status"],
            environment: ["CAPSULE_CLIENT_CONFIG": path, "CAPSULE_HOME": "/env"]
        )
        #expect(Self.values("--home", withVariable.arguments) == ["/env"])
    }

    static func values(_ flag: String, _ arguments: [String]) -> [String] {
        arguments.indices.filter { arguments[$0] == flag && $0 + 1 < arguments.count }.map { arguments[$0 + 1] }
    }

    @Test func anExplicitContextBeatsVariablesButNotFlags() throws {
        let path = try write(sample)
        let prepared = try CTLMain.prepare(
            ["--context", "prod", "status", "--key", "/typed.key"],
            environment: ["CAPSULE_CLIENT_CONFIG": path, "CAPSULE_ROUTER": "tcp://env:1", "HOME": "/home/op"]
        )
        let arguments = prepared.arguments
        func value(_ flag: String) -> [String] {
            arguments.indices.filter { arguments[$0] == flag }.map { arguments[$0 + 1] }
        }
        #expect(value("--router") == ["tcp://capsule.example.net:7403"])
        #expect(value("--key") == ["/typed.key"])
        #expect(value("--operator-name") == ["alice"])
        #expect(value("--broker-key") == ["/etc/capsule/broker.pub"])
    }

    @Test func anUnknownContextIsAUsageError() throws {
        let path = try write(sample)
        #expect(
            throws: CTLError(
                .usage,
                "unknown context 'staging' in \(path) (contexts: local, prod); see capsulectl config get-contexts"
            )
        ) {
            try CTLMain.prepare(["status", "--context", "staging"], environment: ["CAPSULE_CLIENT_CONFIG": path])
        }
        let missing = "/nonexistent/capsule/config.yaml"
        #expect(throws: CTLError.self) {
            try CTLMain.prepare(["status", "--context", "x"], environment: ["CAPSULE_CLIENT_CONFIG": missing])
        }
        // Without --context, a missing default file is fine.
        #expect(try CTLMain.prepare(["status"], environment: ["HOME": "/nonexistent"]).arguments == ["status"])
    }
}
