import CapsuleAgentKit
import CapsuleProtocol
import Foundation

/// The SDK's command ledger (issue 11: "per-command cost flat from 0 to 10,000 ledger entries"):
/// what one command costs it, `begin` and `finish`, each an appended line made durable with
/// `fdatasync`, while it holds about 0, 5,000 and 10,000 commands (full, so every command also
/// evicts the oldest). Beside it, the raw cost of the same two appends (`write` + `fdatasync` of
/// lines of the same size) to a file in the same folder, in the same run.
enum LedgerCost {
    struct Figure {
        var held: Int
        var micros: Double
    }

    static func measure(commands: Int) throws -> (ledger: [Figure], raw: Double) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("capsule-bench-ledger-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let ledger = CommandLedger(file: folder.appendingPathComponent("agent-bench-commands.jsonl"))
        var figures: [Figure] = []
        var filled = 0
        for target in [0, 5_000, ledger.capacity] {
            while filled < target {
                try command(ledger, id: "cmd_fill\(filled)")
                filled += 1
            }
            let held = ledger.count
            let started = DispatchTime.now().uptimeNanoseconds
            for index in 0..<commands { try command(ledger, id: "cmd_\(target)_\(index)") }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000
            figures.append(Figure(held: held, micros: elapsed / Double(commands)))
        }
        return (figures, try raw(folder: folder, commands: commands))
    }

    private static func command(_ ledger: CommandLedger, id: String) throws {
        _ = try ledger.begin(id)
        try ledger.finish(CommandResult(commandId: id, success: true, message: "ok"))
    }

    /// Two appends per command, of lines as long as the ledger's, each followed by `fdatasync`.
    private static func raw(folder: URL, commands: Int) throws -> Double {
        let path = folder.appendingPathComponent("raw.jsonl").path
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchError("cannot open \(path)") }
        defer { close(fd) }
        let begin = [UInt8](#"{"id":"cmd_0_00000"}"#.utf8) + [10]
        let finish =
            [UInt8](#"{"id":"cmd_0_00000","result":{"commandId":"cmd_0_00000","success":true,"message":"ok"}}"#.utf8)
            + [10]
        let started = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<commands {
            for line in [begin, finish] {
                guard line.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == line.count, fdatasync(fd) == 0
                else { throw BenchError("cannot append to \(path)") }
            }
        }
        return Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000 / Double(commands)
    }
}
