import CapsuleDomain
import Foundation

/// How the sidecar keeps a payload from ever becoming a command (docs/sidecar-manifest.md, "Arguments"):
/// no shell, the program fixed by the manifest, whole-argument placeholders only, no payload value
/// handed to a command interpreter, and no payload value read as an option.
package enum ArgvPolicy {
    /// Programs that run their arguments as code: a payload value must never reach one.
    static let interpreters: Set<String> = [
        "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox", "env", "xargs", "eval",
        "exec",
        "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "tclsh", "awk", "gawk", "sed",
        "osascript", "pwsh",
        "powershell", "sudo", "su", "ssh",
        // Wrappers that run their arguments as a program.
        "timeout", "nice", "nohup", "setsid", "stdbuf", "doas", "pkexec", "runuser", "chroot", "flock", "systemd-run",
        "watch",
        "strace", "ltrace", "ionice", "taskset", "chrt", "time", "unbuffer", "unshare", "nsenter", "setpriv",
        "firejail",
    ]

    /// `${payload.NAME}` exactly.
    package static func isPlaceholder(_ argument: String) -> Bool { placeholderName(argument) != nil }

    package static func placeholderName(_ argument: String) -> String? {
        guard argument.hasPrefix("${payload."), argument.hasSuffix("}") else { return nil }
        let name = String(argument.dropFirst("${payload.".count).dropLast())
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            return nil
        }
        return name
    }

    /// The interpreter named in `argv` before `placeholder`'s first use, if any.
    static func interpreter(before placeholder: String, in argv: [String]) -> String? {
        for argument in argv {
            if argument == placeholder { return nil }
            let program = URL(fileURLWithPath: argument).lastPathComponent
            let base = program.split(separator: ".").first.map(String.init) ?? program
            if interpreters.contains(program)
                || interpreters.contains(base.trimmingCharacters(in: .decimalDigits.union(["."])))
            {
                return program
            }
        }
        return nil
    }

    /// Why a substituted value is refused at run time: one that starts with `-` could be read as an
    /// option, unless the manifest put `--` (end of options) before its placeholder.
    static func refusal(value: String, name: String, afterDoubleDash: Bool) -> String? {
        guard value.hasPrefix("-"), !afterDoubleDash else { return nil }
        return
            "payload value \(name) starts with '-' and could be read as an option; the manifest must put \"--\" before ${payload.\(name)}"
    }
}
