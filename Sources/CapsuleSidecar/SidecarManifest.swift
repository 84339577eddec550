package import CapsuleDomain

/// The sidecar's manifest file: one governed service, its health probe, configs and argv actions.
/// Format: docs/sidecar-manifest.md.
package struct SidecarManifest: Sendable, Hashable {
    package enum Probe: Sendable, Hashable {
        case http(url: String, timeoutSeconds: Double)
        case tcp(host: String, port: Int, timeoutSeconds: Double)
        case command(argv: [String], timeoutSeconds: Double)
    }

    package struct Action: Sendable, Hashable {
        package var definition: ActionDefinition
        /// The program and its arguments; never run through a shell.
        package var argv: [String]
    }

    package var code: String
    package var name: String
    package var version: String
    package var runtime: String
    package var health: Probe

    /// The probe's own timeout, so the agent waits for it (plus a second) before reporting UNKNOWN.
    package var probeTimeoutSeconds: Double {
        switch health {
        case .http(_, let seconds), .tcp(_, _, let seconds), .command(_, let seconds): seconds
        }
    }
    package var configs: [ConfigItem]
    package var actions: [Action]
}
