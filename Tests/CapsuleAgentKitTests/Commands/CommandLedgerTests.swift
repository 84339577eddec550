import CapsuleProtocol
import Foundation
import Testing

@testable import CapsuleAgentKit

/// A fresh temporary folder for one test, removed afterwards.
func withTemporaryFolder<T>(_ body: (URL) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("capsule-ledger-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try body(folder)
}

private func fileSize(_ url: URL) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int) ?? 0
}

private func lines(_ url: URL) -> [String] {
    ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

/// `cmd_` and 16 digits, so every id takes the same bytes on disk.
private func id(_ n: Int) -> String { "cmd_" + String(format: "%016d", n) }

private func ok(_ id: String, _ message: String = "done") -> CommandResult {
    CommandResult(commandId: id, success: true, message: message)
}

struct CommandLedgerTests {
    @Test func aNewCommandBeginsRunningAndItsRedeliveryIsAnsweredFromTheLedger() throws {
        try withTemporaryFolder { folder in
            let ledger = CommandLedger(file: folder.appendingPathComponent("ledger.jsonl"))
            #expect(try ledger.begin("cmd_a") == nil, "new: run it")
            #expect(try ledger.begin("cmd_a") == .running, "redelivered while running: acknowledge again")
            try ledger.finish(ok("cmd_a"))
            #expect(
                try ledger.begin("cmd_a") == .finished(ok("cmd_a")),
                "redelivered after the end: send the same result"
            )
            #expect(ledger.count == 1)
        }
    }

    @Test func whatItKnowsSurvivesAReopen() throws {
        try withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("ledger.jsonl")
            do {
                let ledger = CommandLedger(file: file)
                _ = try ledger.begin("cmd_a")
                try ledger.finish(ok("cmd_a", "first"))
                _ = try ledger.begin("cmd_b")
                try ledger.finish(
                    CommandResult(commandId: "cmd_b", success: false, error: ErrorBody("bad_input", "no"))
                )
            }
            let reopened = CommandLedger(file: file)
            #expect(reopened.count == 2)
            #expect(try reopened.begin("cmd_a") == .finished(ok("cmd_a", "first")))
            #expect(
                try reopened.begin("cmd_b")
                    == .finished(
                        CommandResult(
                            commandId: "cmd_b",
                            success: false,
                            error: ErrorBody("bad_input", "no")
                        )
                    )
            )
        }
    }

    @Test func aCommandRunningWhenTheAgentDiedFailsAgentRestarted() throws {
        try withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("ledger.jsonl")
            do {
                let ledger = CommandLedger(file: file)
                _ = try ledger.begin("cmd_a")
            }
            let reopened = CommandLedger(file: file)
            guard case .finished(let result)? = try reopened.begin("cmd_a") else {
                Issue.record("a command running at the restart was not finished")
                return
            }
            #expect(!result.success)
            #expect(result.commandId == "cmd_a")
            #expect(result.error?.code == .agentRestarted)
            // And that is what a later reopen remembers too.
            let again = CommandLedger(file: file)
            #expect(try again.begin("cmd_a") == .finished(result))
        }
    }

    @Test func beyondCapacityTheOldestByArrivalIsForgotten() throws {
        try withTemporaryFolder { folder in
            let ledger = CommandLedger(file: folder.appendingPathComponent("ledger.jsonl"), capacity: 3)
            // Ids that sort against their arrival: "c" arrives first.
            _ = try ledger.begin("cmd_c")
            _ = try ledger.begin("cmd_b")
            try ledger.finish(ok("cmd_c"))  // finishing does not make it newer
            _ = try ledger.begin("cmd_a")
            _ = try ledger.begin("cmd_d")
            #expect(ledger.count == 3)
            #expect(try ledger.begin("cmd_b") == .running, "cmd_b is kept")
            #expect(try ledger.begin("cmd_a") == .running)
            #expect(try ledger.begin("cmd_d") == .running)
            #expect(try ledger.begin("cmd_c") == nil, "cmd_c, the first to arrive, was forgotten")
        }
    }

    @Test func evictionOrderSurvivesAReopen() throws {
        try withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("ledger.jsonl")
            do {
                let ledger = CommandLedger(file: file, capacity: 3)
                for name in ["cmd_z", "cmd_y", "cmd_x"] {
                    _ = try ledger.begin(name)
                    try ledger.finish(ok(name))
                }
            }
            let reopened = CommandLedger(file: file, capacity: 3)
            _ = try reopened.begin("cmd_new")
            try reopened.finish(ok("cmd_new"))
            #expect(try reopened.begin("cmd_y") == .finished(ok("cmd_y")))
            #expect(try reopened.begin("cmd_x") == .finished(ok("cmd_x")))
            #expect(try reopened.begin("cmd_z") == nil, "the oldest by arrival, not by name")
        }
    }

    @Test func theFileIsCompactedAndKeepsWhatIsHeld() throws {
        try withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("ledger.jsonl")
            let capacity = 8
            do {
                let ledger = CommandLedger(file: file, capacity: capacity)
                for n in 0..<200 {
                    _ = try ledger.begin(id(n))
                    try ledger.finish(ok(id(n), "result \(n)"))
                }
                // Compaction runs once the file holds twice what is kept (plus slack): it never grows without end.
                #expect(lines(file).count <= 2 * capacity + 64 + 2)
                #expect(lines(file).count < 400)
            }
            let reopened = CommandLedger(file: file, capacity: capacity)
            #expect(reopened.count == capacity)
            #expect(lines(file).count == capacity, "a reopen rewrites the file with only what is held")
            for n in 192..<200 {
                #expect(try reopened.begin(id(n)) == .finished(ok(id(n), "result \(n)")))
            }
            #expect(try reopened.begin(id(191)) == nil)
        }
    }

    /// Each command costs two appended lines, whether the ledger holds nothing or 10,000 commands.
    @Test func theCostOfACommandDoesNotGrowWithTheLedger() throws {
        try withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("ledger.jsonl")
            func appendedBytes(_ ledger: CommandLedger, _ name: String) throws -> Int {
                let before = fileSize(file)
                _ = try ledger.begin(name)
                try ledger.finish(ok(name))
                return fileSize(file) - before
            }
            do {
                let empty = CommandLedger(file: file)
                let first = try appendedBytes(empty, id(0))
                #expect(first > 0)
                for n in 1..<10_000 {
                    _ = try empty.begin(id(n))
                    try empty.finish(ok(id(n)))
                }
                #expect(empty.count == 10_000)
                let full = CommandLedger(file: file)
                #expect(full.count == 10_000)
                let later = try appendedBytes(full, id(10_000))
                #expect(later == first, "appending to a full ledger costs what appending to an empty one did")
                #expect(full.count == 10_000, "and the oldest made room")
            }
        }
    }

    @Test func aLedgerThatCannotBeWrittenRefusesToBegin() throws {
        try withTemporaryFolder { folder in
            // A path below a regular file can be created by nobody, root included.
            let blocker = folder.appendingPathComponent("file")
            try Data("not a folder".utf8).write(to: blocker)
            let ledger = CommandLedger(file: blocker.appendingPathComponent("ledger.jsonl"))
            #expect(throws: CommandLedger.Unavailable.self) { try ledger.begin("cmd_a") }
            do throws(CommandLedger.Unavailable) {
                _ = try ledger.begin("cmd_a")
            } catch {
                #expect(error.description.contains("the command ledger cannot be written"))
                #expect(error.description.contains(blocker.path))
            }
            #expect(ledger.count == 0, "a command not written down is not taken as known")
            #expect(throws: CommandLedger.Unavailable.self) { try ledger.finish(ok("cmd_a")) }
        }
    }

    /// A ledger file that exists but cannot be read may be all that says which commands already ran:
    /// the agent runs nothing new and never rewrites it.
    @Test func aLedgerThatExistsButCannotBeReadRefusesEverythingAndIsLeftAlone() throws {
        try withTemporaryFolder { folder in
            // A folder where the file should be cannot be read as a file, root included.
            let path = folder.appendingPathComponent("ledger.jsonl")
            try FileManager.default.createDirectory(at: path, withIntermediateDirectories: false)
            try Data("kept".utf8).write(to: path.appendingPathComponent("inside"))
            let ledger = CommandLedger(file: path)
            do throws(CommandLedger.Unavailable) {
                _ = try ledger.begin("cmd_a")
                Issue.record("began a command over an unreadable ledger")
            } catch {
                #expect(error.description.contains("cannot be read"))
            }
            #expect(throws: CommandLedger.Unavailable.self) { try ledger.finish(ok("cmd_a")) }
            #expect(
                FileManager.default.fileExists(atPath: path.appendingPathComponent("inside").path),
                "left as it was"
            )
        }
    }

    @Test func oneTimeFieldsAndSecretsAreNeverWritten() throws {
        try withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("ledger.jsonl")
            let ledger = CommandLedger(file: file)
            _ = try ledger.begin("cmd_a")
            let result = CommandResult(
                commandId: "cmd_a",
                success: true,
                data: .object([
                    "generatedKey": .string("gk-9f8e7d"), "password": .string("hunter2"), "note": .string("kept"),
                ])
            )
            try ledger.finish(result, oneTimeFields: ["generatedKey"])
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(!text.contains("gk-9f8e7d"))
            #expect(!text.contains("hunter2"))
            #expect(text.contains("kept"))
            guard case .finished(let stored)? = try ledger.begin("cmd_a") else {
                Issue.record("the result was not kept")
                return
            }
            #expect(
                stored.data
                    == .object([
                        "generatedKey": .string("[ONE-TIME]"), "password": .string("[REDACTED]"),
                        "note": .string("kept"),
                    ])
            )
        }
    }

    @Test func aLegacyJSONLedgerIsMigratedAndRemoved() throws {
        try withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("agent-x-commands.jsonl")
            let legacy = folder.appendingPathComponent("agent-x-commands.json")
            let saved: [String: CommandLedger.Entry] = [
                "cmd_done": .finished(ok("cmd_done", "old")), "cmd_running": .running,
            ]
            try JSONEncoder().encode(saved).write(to: legacy)

            let ledger = CommandLedger(file: file, legacy: legacy)
            #expect(!FileManager.default.fileExists(atPath: legacy.path), "the old file is removed once read")
            #expect(ledger.count == 2)
            #expect(try ledger.begin("cmd_done") == .finished(ok("cmd_done", "old")))
            guard case .finished(let result)? = try ledger.begin("cmd_running") else {
                Issue.record("a legacy running entry was not finished")
                return
            }
            #expect(result.error?.code == .agentRestarted)
            // Migrated into the new file: a reopen without the legacy file still knows both.
            let reopened = CommandLedger(file: file, legacy: legacy)
            #expect(reopened.count == 2)
        }
    }

    @Test func aLedgerWithoutAFileKeepsMemoryOnly() throws {
        let ledger = CommandLedger(file: nil, capacity: 2)
        #expect(try ledger.begin("cmd_a") == nil)
        try ledger.finish(ok("cmd_a"))
        #expect(try ledger.begin("cmd_a") == .finished(ok("cmd_a")))
    }

    @Test func aTornOrForeignLineIsSkipped() throws {
        try withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("ledger.jsonl")
            let good = String(decoding: try JSONEncoder().encode(["id": "cmd_a"]), as: UTF8.self)
            try Data("\(good)\n{\"id\": \"cmd_b\", \"res".utf8).write(to: file)
            let ledger = CommandLedger(file: file)
            #expect(ledger.count == 1)
            #expect(try ledger.begin("cmd_b") == nil, "the torn line is not a command")
            guard case .finished(let result)? = try ledger.begin("cmd_a") else {
                Issue.record("cmd_a was not read")
                return
            }
            #expect(result.error?.code == .agentRestarted)
        }
    }
}
