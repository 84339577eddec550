/// This build's version, shown by `--version` and `cluster.info`.
package enum CapsuleVersion {
    package static let current = "0.5.0"
}
