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
        #expect(manifest.configs[1].sensitive && manifest.configs[1].value == nil && manifest.configs[1].secretRef == "env:DB_PASSWORD")
        let action = try #require(manifest.actions.first)
        #expect(action.argv == ["/usr/bin/systemctl", "restart", "report-worker"])
        #expect(action.definition.dangerLevel == .high)
        #expect(action.definition.requiresConfirmation)
        #expect(action.definition.timeoutSeconds == 30)
        #expect(action.definition.inputSchema?["required"] == .array([.string("reason")]))
    }

    @Test func parsesJSONToo() throws {
        let json = #"{"code":"x","name":"X","version":"1","runtime":"node","health":{"type":"tcp","host":"127.0.0.1","port":9000,"timeoutSeconds":1}}"#
        let manifest = try ManifestLoader.parse(json, file: "m.json")
        #expect(manifest.health == .tcp(host: "127.0.0.1", port: 9000, timeoutSeconds: 1))
        #expect(manifest.actions.isEmpty)
    }

    @Test(arguments: [
        ("name: X\nversion: '1'\nruntime: sh\nhealth: {type: tcp, host: h, port: 1, timeoutSeconds: 1}", "code", "is required"),
        (valid + "\nextra: 1", "extra", "unknown key"),
        (valid.replacingOccurrences(of: "version: \"1.0\"", with: "version: 1"), "version", "expected a string"),
        (valid.replacingOccurrences(of: "timeoutSeconds: 2", with: "timeoutSeconds: soon"), "health.timeoutSeconds", "expected a number"),
        (valid.replacingOccurrences(of: #"argv: ["/usr/bin/systemctl", "restart", "report-worker"]"#, with: "argv: systemctl restart x"),
         "actions[0].argv", "never a shell string"),
        (valid.replacingOccurrences(of: "type: http", with: "type: ftp"), "health.type", "must be http, tcp or command"),
        (valid.replacingOccurrences(of: "dangerLevel: high", with: "dangerLevel: apocalyptic"), "actions[0].dangerLevel", "LOW, MEDIUM"),
        (valid.replacingOccurrences(of: "secretRef: env:DB_PASSWORD", with: "value: hunter2"), "configs[1].value", "sensitive item carries no value"),
        (valid.replacingOccurrences(of: "    label: Restart", with: "    labl: Restart"), "actions[0].labl", "unknown key"),
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
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let manifest = try ManifestLoader.load(path: root.appendingPathComponent("deploy/demo/report-worker.yaml").path)
        #expect(manifest.code == "report-worker")
        #expect(manifest.actions.map(\.definition.name) == ["pause", "resume", "rotate-logs"])
    }
}
