import CapsuleDomain
import CapsuleSidecar
import Foundation
import Testing

struct ManifestLoaderTests {
    static let valid = """
        code: report-worker
        name: Report worker
        version: "1.0"
        runtime: python
        health:
          type: http
          url: http://127.0.0.1:8080/health
          timeoutSeconds: 2
        configs:
          - key: region
            value: eu-west-1
          - key: dbPassword
            sensitive: true
            secretRef: env:DB_PASSWORD
        actions:
          - name: restart
            label: Restart
            dangerLevel: high
            requiresConfirmation: true
            timeoutSeconds: 30
            argv: ["/usr/bin/systemctl", "restart", "report-worker"]
            inputSchema:
              type: object
              required: [reason]
        """

    @Test func parsesAValidYAMLManifest() throws {
        let manifest = try ManifestLoader.parse(Self.valid, file: "m.yaml")
        #expect(manifest.code == "report-worker")
        #expect(manifest.health == .http(url: "http://127.0.0.1:8080/health", timeoutSeconds: 2))
        #expect(manifest.configs.count == 2)
        #expect(
            manifest.configs[1].sensitive && manifest.configs[1].value == nil
                && manifest.configs[1].secretRef == "env:DB_PASSWORD"
        )
        let action = try #require(manifest.actions.first)
        #expect(action.argv == ["/usr/bin/systemctl", "restart", "report-worker"])
        #expect(action.definition.dangerLevel == .high)
        #expect(action.definition.requiresConfirmation)
        #expect(action.definition.timeoutSeconds == 30)
        #expect(action.definition.inputSchema?["required"] == .array([.string("reason")]))
    }

    @Test func parsesJSONToo() throws {
        let json =
            #"{"code":"x","name":"X","version":"1","runtime":"node","health":{"type":"tcp","host":"127.0.0.1","port":9000,"timeoutSeconds":1}}"#
        let manifest = try ManifestLoader.parse(json, file: "m.json")
        #expect(manifest.health == .tcp(host: "127.0.0.1", port: 9000, timeoutSeconds: 1))
        #expect(manifest.actions.isEmpty)
    }

    @Test(arguments: [
        (
            "name: X\nversion: '1'\nruntime: sh\nhealth: {type: tcp, host: h, port: 1, timeoutSeconds: 1}", "code",
            "is required"
        ),
        (valid + "\nextra: 1", "extra", "unknown key"),
        (valid.replacingOccurrences(of: "version: \"1.0\"", with: "version: 1"), "version", "expected a string"),
        (
            valid.replacingOccurrences(of: "timeoutSeconds: 2", with: "timeoutSeconds: soon"), "health.timeoutSeconds",
            "expected a number"
        ),
        (
            valid.replacingOccurrences(
                of: #"argv: ["/usr/bin/systemctl", "restart", "report-worker"]"#,
                with: "argv: systemctl restart x"
            ),
            "actions[0].argv", "never a shell string"
        ),
        (
            valid.replacingOccurrences(of: "type: http", with: "type: ftp"), "health.type",
            "must be http, tcp or command"
        ),
        (
            valid.replacingOccurrences(of: "dangerLevel: high", with: "dangerLevel: apocalyptic"),
            "actions[0].dangerLevel", "LOW, MEDIUM"
        ),
        (
            valid.replacingOccurrences(of: "secretRef: env:DB_PASSWORD", with: "value: hunter2"), "configs[1].value",
            "sensitive item carries no value"
        ),
        (
            valid.replacingOccurrences(of: "    label: Restart", with: "    labl: Restart"), "actions[0].labl",
            "unknown key"
        ),
        ("code: [unclosed", "(document)", "not valid YAML"),
    ])
    func refusesBadManifestsNamingTheField(text: String, field: String, reason: String) {
        do {
            _ = try ManifestLoader.parse(text, file: "bad.yaml")
            Issue.record("accepted a bad manifest (expected \(field): \(reason))")
        } catch let error as ManifestError {
            #expect(error.file == "bad.yaml")
            #expect(error.field == field)
            #expect(error.reason.contains(reason), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func missingFileIsAClearError() {
        #expect(throws: ManifestError.self) { try ManifestLoader.load(path: "/nonexistent/manifest.yaml") }
    }

    @Test func theDemoManifestIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let manifest = try ManifestLoader.load(path: root.appendingPathComponent("deploy/demo/report-worker.yaml").path)
        #expect(manifest.code == "report-worker")
        #expect(manifest.actions.map(\.definition.name) == ["pause", "resume", "rotate-logs"])
    }
}

struct ManifestLoaderBoundsTests {
    /// Billion laughs: nine levels of nine aliases expand to 9^9 nodes.
    static let aliasBomb: String = {
        var lines = [#"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#]
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            lines.append("a\(level): &a\(level) [" + Array(repeating: previous, count: 9).joined(separator: ",") + "]")
        }
        return lines.joined(separator: "\n")
    }()

    @Test(.timeLimit(.minutes(1)))
    func anAliasBombIsRefusedByTheNodeBudget() throws {
        #expect(Self.aliasBomb.utf8.count < 1_000, "a small file")
        let error = try #require(throws: ManifestError.self) {
            try ManifestLoader.parse(Self.aliasBomb, file: "bomb.yaml")
        }
        #expect(error.field == "(document)")
        #expect(error.reason.contains("expands to more than \(ManifestLoader.maxNodes) YAML nodes"))
    }

    @Test func aFewAliasesWithinTheBudgetAreFine() throws {
        let text = """
            code: worker
            name: Worker
            version: "1"
            runtime: sh
            health: &probe {type: tcp, host: 127.0.0.1, port: 9, timeoutSeconds: 1}
            """
        #expect(
            try ManifestLoader.parse(text, file: "m.yaml").health == .tcp(host: "127.0.0.1", port: 9, timeoutSeconds: 1)
        )
    }

    @Test func aFileOverTheSizeCapIsRefusedBeforeParsing() throws {
        let text = "code: x\n# " + String(repeating: "p", count: ManifestLoader.maxBytes)
        let error = try #require(throws: ManifestError.self) { try ManifestLoader.parse(text, file: "big.yaml") }
        #expect(error.field == "(file)")
        #expect(error.reason.contains("a manifest may be at most \(ManifestLoader.maxBytes)"))
    }

    @Test func everyProblemInAManifestIsReported() throws {
        let text = """
            code: Bad Code
            name: Worker
            runtime: sh
            colour: blue
            health: {type: tcp, host: 127.0.0.1, port: 70000, timeoutSeconds: 1}
            configs:
              - {key: region}
            actions:
              - name: run
                argv: ["/bin/sh", "-c", "${payload.cmd}"]
                inputSchema: {type: object, properties: {cmd: {type: string}}, oneOf: []}
              - name: Other Name
                argv: ["${payload.cmd}"]
                dangerLevel: extreme
              - name: fine
                argv: ["/bin/true"]
              - name: fine
                argv: ["/bin/false"]
            """
        let errors = try #require(throws: ManifestErrors.self) { try ManifestLoader.parse(text, file: "m.yaml") }
        let fields = errors.errors.map(\.field)
        #expect(fields.contains("colour"))
        #expect(fields.contains("code"))
        #expect(fields.contains("version"))
        #expect(fields.contains("health.port"))
        #expect(fields.contains("configs[0].value"))
        #expect(fields.contains("actions[0].inputSchema"))
        #expect(fields.contains("actions[0].argv"))
        #expect(fields.contains("actions[1].name"))
        #expect(fields.contains("actions[1].dangerLevel"))
        #expect(fields.contains("actions[1].argv[0]"))
        #expect(fields.contains("actions[3].name"), "the duplicate action name")
        #expect(!fields.contains { $0.hasPrefix("actions[2]") }, "a good action among bad ones raises nothing")
        #expect(errors.errors.allSatisfy { $0.file == "m.yaml" })
        #expect(errors.description.split(separator: "\n").count == errors.errors.count, "one line per problem")
    }
}
