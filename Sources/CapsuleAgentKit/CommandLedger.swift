import CapsuleDomain
import CapsuleProtocol
import Foundation

/// Remembers every command this agent has seen, so a redelivered command never runs twice: a
/// running one is acknowledged again, a finished one gets its result again. Kept on disk so a
/// restarted agent remembers too.
actor CommandLedger {
    enum Entry: Codable {
        case running
        case finished(CommandResult)
    }

    private var entries: [String: Entry] = [:]
    private let file: URL?

    init(file: URL?) {
        self.file = file
        if let file, let data = try? Data(contentsOf: file),
            let saved = try? JSONDecoder().decode([String: Entry].self, from: data)
        {
            // A command that was running when the agent died did not finish: report it failed.
            entries = saved.mapValues { entry in
                if case .running = entry { return .finished(CommandResult(commandId: "", success: false,
                    error: ErrorBody(code: "agent_restarted", message: "the agent restarted while the command ran"))) }
                return entry
            }
            for (id, entry) in entries {
                if case .finished(var result) = entry, result.commandId.isEmpty {
                    result.commandId = id
                    entries[id] = .finished(result)
                }
            }
        }
    }

    /// Returns nil when the command is new (and marks it running), or what we already know.
    func begin(_ id: String) -> Entry? {
        if let known = entries[id] { return known }
        entries[id] = .running
        save()
        return nil
    }

    func finish(_ result: CommandResult) {
        // Kept on disk, so only in redacted form (the broker stores it redacted too).
        var stored = result
        stored.data = Redactor.redact(result.data)
        entries[result.commandId] = .finished(stored)
        if entries.count > 10_000, let oldest = entries.keys.sorted().first { entries[oldest] = nil }
        save()
    }

    private func save() {
        guard let file, let data = try? JSONEncoder().encode(entries) else { return }
        try? data.write(to: file, options: .atomic)
    }
}
