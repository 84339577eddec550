import CapsuleDomain
package import CapsuleProtocol
package import Foundation

/// Remembers every command this agent has seen, so a redelivered command never runs twice: a
/// running one is acknowledged again, a finished one gets its result again. Kept on disk, so a
/// restarted agent remembers too (docs/protocol.md §9).
///
/// The file is append-only JSON lines: each command costs one appended line when it starts and one
/// when it ends, whatever the ledger holds; it is rewritten (compacted) only when it holds twice as
/// many lines as entries. At most ``capacity`` commands are remembered; the oldest by arrival go
/// first. A command that cannot be written down is not run: ``begin(_:)`` throws and the agent
/// answers `ledger_unavailable`.
package final class CommandLedger {
    package enum Entry: Codable, Equatable {
        case running
        case finished(CommandResult)
    }

    package struct Unavailable: Error, CustomStringConvertible {
        var reason: String
        package var description: String { "the command ledger cannot be written: \(reason)" }
    }

    private struct Line: Codable {
        var id: String
        var result: CommandResult?
    }

    package let capacity: Int
    private var entries: [String: Entry] = [:]
    /// Command ids in arrival order; `head` marks the oldest still held.
    private var order: [String] = []
    private var head = 0
    private var lines = 0
    private let file: URL?
    private var fd: Int32 = -1
    /// Set when the file exists but cannot be read: what ran before is unknown, so nothing new runs.
    private var unreadable: String?

    /// - Parameter legacy: a ledger in the earlier whole-file JSON format, read once and removed.
    package init(file: URL?, legacy: URL? = nil, capacity: Int = 10_000) {
        self.file = file
        self.capacity = capacity
        guard let file else { return }
        if let legacy, let data = try? Data(contentsOf: legacy),
            let saved = try? JSONDecoder().decode([String: Entry].self, from: data)
        {
            for (id, entry) in saved.sorted(by: { $0.key < $1.key }) {
                entries[id] = entry
                order.append(id)
            }
            try? FileManager.default.removeItem(at: legacy)
        }
        load(file)
        guard unreadable == nil else { return }
        // A command that was running when the agent died did not finish: report it failed.
        for (id, entry) in entries where entry == .running {
            entries[id] = .finished(
                CommandResult(
                    commandId: id,
                    success: false,
                    error: ErrorBody(.agentRestarted, "the agent restarted while the command ran")
                )
            )
        }
        try? compact()
    }

    deinit { if fd >= 0 { close(fd) } }

    package var count: Int { entries.count }

    /// Returns nil when the command is new (and records it as running), or what is already known.
    package func begin(_ id: String) throws(Unavailable) -> Entry? {
        if let unreadable { throw Unavailable(reason: unreadable) }
        if let known = entries[id] { return known }
        try append(Line(id: id, result: nil))
        entries[id] = .running
        order.append(id)
        evict()
        return nil
    }

    /// Records a result. Kept on disk, so only redacted, and without one-time fields.
    package func finish(_ result: CommandResult, oneTimeFields: [String] = []) throws(Unavailable) {
        if let unreadable { throw Unavailable(reason: unreadable) }
        var stored = result
        stored.data = Redactor.redact(result.data)
        if !oneTimeFields.isEmpty, case .object(var object)? = stored.data {
            for field in oneTimeFields where object[field] != nil { object[field] = .string("[ONE-TIME]") }
            stored.data = .object(object)
        }
        if entries[result.commandId] == nil { order.append(result.commandId) }
        entries[result.commandId] = .finished(stored)
        try append(Line(id: result.commandId, result: stored))
        evict()
    }

    private func evict() {
        while entries.count > capacity, head < order.count {
            entries[order[head]] = nil
            head += 1
        }
        if head > 4_096 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    // MARK: File

    private func load(_ file: URL) {
        guard FileManager.default.fileExists(atPath: file.path) else { return }
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            // Never rewritten over: the file may be all that says which commands already ran.
            unreadable =
                "\(file.path) exists but cannot be read (\((error as NSError).localizedDescription)); fix or move it aside"
            return
        }
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let entry = try? JSONDecoder().decode(Line.self, from: Data(line)) else { continue }
            if entries[entry.id] == nil { order.append(entry.id) }
            entries[entry.id] = entry.result.map(Entry.finished) ?? (entries[entry.id] ?? .running)
            lines += 1
        }
        evict()
    }

    private func append(_ line: Line) throws(Unavailable) {
        guard let file else { return }
        if lines >= 2 * max(capacity / 4, entries.count) + 64 { try compact() }
        if fd < 0 {
            fd = open(file.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Unavailable(reason: "\(file.path): \(String(cString: strerror(errno)))") }
        }
        guard let encoded = try? JSONEncoder().encode(line) else { throw Unavailable(reason: "cannot encode an entry") }
        try write(encoded + Data([UInt8(ascii: "\n")]), to: fd, path: file.path)
        // On disk before the handler runs (begin) or the result is reported (finish): after a power
        // loss the ledger still says the command ran.
        guard fdatasync(fd) == 0 else { throw Unavailable(reason: "\(file.path): \(String(cString: strerror(errno)))") }
        lines += 1
    }

    /// Rewrites the file with only what is held, then switches to it atomically.
    private func compact() throws(Unavailable) {
        guard let file else { return }
        let temporary = file.path + ".tmp"
        let out = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw Unavailable(reason: "\(temporary): \(String(cString: strerror(errno)))") }
        var text = Data()
        var written = 0
        for id in order[head...] {
            guard let entry = entries[id] else { continue }
            let line: Line
            switch entry {
            case .running: line = Line(id: id, result: nil)
            case .finished(let result): line = Line(id: id, result: result)
            }
            if let encoded = try? JSONEncoder().encode(line) { text.append(encoded + Data([UInt8(ascii: "\n")])) }
            written += 1
        }
        do throws(Unavailable) {
            try write(text, to: out, path: temporary)
            guard fsync(out) == 0 else {
                throw Unavailable(reason: "\(temporary): \(String(cString: strerror(errno)))")
            }
        } catch {
            close(out)
            unlink(temporary)
            throw error
        }
        close(out)
        guard rename(temporary, file.path) == 0 else {
            unlink(temporary)
            throw Unavailable(reason: "\(file.path): \(String(cString: strerror(errno)))")
        }
        if fd >= 0 { close(fd) }
        fd = -1
        lines = written
    }

    private func write(_ data: Data, to fd: Int32, path: String) throws(Unavailable) {
        let ok = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
        guard ok else { throw Unavailable(reason: "\(path): \(String(cString: strerror(errno)))") }
    }
}
