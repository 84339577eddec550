import CapsuleDomain
import Foundation
import Testing

struct ManifestDigestTests {
    static func manifest(_ code: String, actions: [ActionDefinition] = []) -> ServiceManifest {
        ServiceManifest(
            code: code,
            name: code.capitalized,
            version: "1.2.3",
            runtime: "swift",
            configs: [ConfigItem(key: "region", value: .string("eu"))],
            actions: actions
        )
    }

    static let restart = ActionDefinition(name: "restart", dangerLevel: .medium, requiresConfirmation: true)
    static let scale = ActionDefinition(
        name: "scale",
        inputSchema: .object(["type": .string("object")]),
        timeoutSeconds: 60
    )

    @Test func digestIsSixteenLowercaseHexDigits() {
        for manifests in [[], [Self.manifest("a")], [Self.manifest("a"), Self.manifest("b", actions: [Self.restart])]] {
            let digest = ManifestDigest.of(manifests)
            #expect(digest.count == 16)
            #expect(digest.allSatisfy { "0123456789abcdef".contains($0) }, "\(digest)")
        }
    }

    @Test func stableUnderReorderingOfManifests() {
        let a = Self.manifest("alpha", actions: [Self.restart])
        let b = Self.manifest("beta", actions: [Self.scale])
        let c = Self.manifest("gamma")
        let reference = ManifestDigest.of([a, b, c])
        for permutation in [[a, c, b], [b, a, c], [b, c, a], [c, a, b], [c, b, a]] {
            #expect(ManifestDigest.of(permutation) == reference)
        }
        #expect(ManifestDigest.of([a, b, c]) == reference, "repeatable")
    }

    @Test func changesWhenAnActionChanges() {
        let base = [Self.manifest("alpha", actions: [Self.restart, Self.scale])]
        let reference = ManifestDigest.of(base)

        var dangerous = Self.restart
        dangerous.dangerLevel = .critical
        var longer = Self.scale
        longer.timeoutSeconds = 61
        var renamed = Self.restart
        renamed.name = "reboot"
        var schema = Self.scale
        schema.inputSchema = .object(["type": .string("array")])

        let variants: [[ServiceManifest]] = [
            [Self.manifest("alpha", actions: [dangerous, Self.scale])],
            [Self.manifest("alpha", actions: [Self.restart, longer])],
            [Self.manifest("alpha", actions: [renamed, Self.scale])],
            [Self.manifest("alpha", actions: [Self.restart, schema])],
            [Self.manifest("alpha", actions: [Self.restart])],
            [Self.manifest("alpha", actions: [])],
        ]
        var seen: Set<String> = [reference]
        for variant in variants {
            let digest = ManifestDigest.of(variant)
            #expect(digest != reference)
            seen.insert(digest)
        }
        #expect(seen.count == variants.count + 1, "every variant has its own digest")
    }

    @Test func changesWhenManifestsAreAddedOrVersionsChange() {
        let a = Self.manifest("alpha")
        var bumped = a
        bumped.version = "1.2.4"
        #expect(ManifestDigest.of([a]) != ManifestDigest.of([bumped]))
        #expect(ManifestDigest.of([a]) != ManifestDigest.of([a, Self.manifest("beta")]))
        #expect(ManifestDigest.of([]) != ManifestDigest.of([a]))
    }

    /// The vectors the Python SDK checks its digest against (sdk/python/tests/data) were produced by
    /// this code; both SDKs test them, so neither can drift from the other unnoticed.
    @Test func matchesTheVectorsSharedWithThePythonSDK() throws {
        struct Vector: Decodable {
            var name: String
            var manifests: [ServiceManifest]
            var digest: String
        }
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../sdk/python/tests/data/swift_digest_vectors.json").standardized
        let vectors = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: file))
        #expect(vectors.count >= 6)
        for vector in vectors {
            #expect(ManifestDigest.of(vector.manifests) == vector.digest, "\(vector.name)")
        }
    }

    @Test func actionLookupAndDefaultLabel() {
        let manifest = Self.manifest("alpha", actions: [Self.restart, Self.scale])
        #expect(manifest.action(named: "scale")?.timeoutSeconds == 60)
        #expect(manifest.action(named: "restart")?.label == "restart")
        #expect(manifest.action(named: "delete") == nil)
    }
}
