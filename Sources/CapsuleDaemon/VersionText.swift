import CapsuleProtocol

/// What `--version` prints on every executable.
package enum VersionText {
    /// `capsule-broker 0.5.0 (commit 1a2b3c4)` and a second line with the protocol and, for
    /// daemons with a store, its schema: `protocol v1 · broker store schema v4`.
    package static func make(_ program: String, schemas: [(store: String, version: String)] = []) -> String {
        var second = "protocol v\(WireCodec.version)"
        for schema in schemas { second += " · \(schema.store) store schema \(schema.version)" }
        return "\(program) \(CapsuleVersion.described)\n\(second)"
    }
}
