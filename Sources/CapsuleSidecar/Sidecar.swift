package import CapsuleAgentKit
package import CapsuleDomain
import Foundation

/// Turns a sidecar manifest into a governed ``CapsuleService``: the probe becomes the health
/// provider, and each action runs its argv with the payload on stdin and in `CAPSULE_PAYLOAD`.
package enum Sidecar {
    package static func service(from manifest: SidecarManifest, defaultTimeoutSeconds: Double = 300) -> CapsuleService {
        var service = CapsuleService(
            code: manifest.code,
            name: manifest.name,
            version: manifest.version,
            runtime: manifest.runtime
        )
        .health { await HealthProbe.check(manifest.health) }
        .configs { manifest.configs }
        for action in manifest.actions {
            service = service.action(action.definition) { payload, context in
                let argv: [String]
                switch substitute(action.argv, payload: payload) {
                case .success(let substituted): argv = substituted
                case .failure(let refusal): return .failed(code: "bad_input", message: refusal.message)
                }
                let timeout = min(
                    Double(action.definition.timeoutSeconds ?? Int(defaultTimeoutSeconds)),
                    max(1, context.expiresAt.timeIntervalSinceNow)
                )
                let outcome = await ProcessRunner.run(
                    argv,
                    stdin: Data(payload.compactText.utf8),
                    environment: [
                        "CAPSULE_PAYLOAD": payload.compactText, "CAPSULE_COMMAND_ID": context.commandId,
                        "CAPSULE_ACTION": context.action, "CAPSULE_SERVICE": context.serviceCode,
                    ],
                    timeoutSeconds: timeout
                )
                return result(outcome)
            }
        }
        return service
    }

    /// Why a payload could not be put into an action's arguments.
    package struct Refusal: Error, Sendable, Hashable {
        package var message: String
    }

    /// Replaces whole-argument placeholders `${payload.NAME}` with the payload's value; there is no
    /// shell, so a value can never become more than one argument. A value starting with `-` is
    /// refused unless the manifest put `--` before it (``ArgvPolicy``).
    package static func substitute(_ argv: [String], payload: JSONValue) -> Result<[String], Refusal> {
        var out: [String] = []
        var afterDoubleDash = false
        for argument in argv {
            if argument == "--" { afterDoubleDash = true }
            guard let name = ArgvPolicy.placeholderName(argument) else {
                out.append(argument)
                continue
            }
            let value: String
            switch payload[name] {
            case .string(let text): value = text
            case .some(let other): value = other.compactText
            case .none: value = ""
            }
            if let refusal = ArgvPolicy.refusal(value: value, name: name, afterDoubleDash: afterDoubleDash) {
                return .failure(Refusal(message: refusal))
            }
            out.append(value)
        }
        return .success(out)
    }

    package static func result(_ outcome: ProcessOutcome) -> ActionResult {
        if let error = outcome.launchError { return .failed(code: "launch_failed", message: error) }
        if outcome.timedOut {
            return .failed(code: "timeout", message: "the action did not finish in time and was stopped")
        }
        let stdout = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let data = (try? JSONValue.parse(stdout)).flatMap { value -> JSONValue? in
            if case .object = value { return value }
            return nil
        }
        let lastLine = stdout.split(separator: "\n").last.map { String($0.prefix(500)) }
        if outcome.exitCode == 0 {
            return .ok(data == nil ? lastLine : data?["message"]?.stringValue, data: data)
        }
        let errLine = outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last.map {
            String($0.prefix(500))
        }
        return .failed(
            code: "exit_\(outcome.exitCode ?? -1)",
            message: errLine ?? lastLine ?? "exited with status \(outcome.exitCode ?? -1)"
        )
    }
}
