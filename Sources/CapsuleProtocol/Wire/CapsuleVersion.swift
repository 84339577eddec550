internal import CCapsuleBuild

/// This build's version, shown by `--version` and `cluster.info`.
package enum CapsuleVersion {
    package static let current = "0.5.0"

    /// The git commit of this build (`CAPSULE_COMMIT` at build time, as `make` sets it), or nil.
    package static let commit: String? = {
        let text = String(cString: capsule_build_commit())
        return text.isEmpty ? nil : text
    }()

    /// `0.5.0 (commit 1a2b3c4)` or `0.5.0 (commit unknown)`.
    package static var described: String { "\(current) (commit \(commit ?? "unknown"))" }
}
