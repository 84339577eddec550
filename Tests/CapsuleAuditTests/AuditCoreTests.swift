import CapsuleProtocol
import Foundation
import Testing

@testable import CapsuleAudit

struct BackupNameTests {
    @Test(arguments: [
        "audit.sqlite", "audit-2026-12-01.sqlite", "A_b.C-1", "x", String(repeating: "b", count: 128), "backup..sqlite",
    ])
    func plainFileNamesAreValid(_ name: String) {
        #expect(BackupName.isValid(name))
    }

    @Test(arguments: [
        "", ".hidden", "..", "../escape", "a/b", "/etc/passwd", "back up", "new\nline", "tab\tname", "é.sqlite", "a*b",
        "a:b",
        String(repeating: "b", count: 129), "~root", "$(rm)",
    ])
    func anythingElseIsRefused(_ name: String) {
        #expect(!BackupName.isValid(name))
    }

    @Test func prepareCreatesTheFolderPrivate() throws {
        try withFolder { root in
            let backups = root.appendingPathComponent("backups")
            try BackupName.prepare(backups)
            var info = stat()
            #expect(lstat(backups.path, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFDIR)
            #expect(info.st_mode & 0o777 == 0o700)
            try BackupName.prepare(backups)  // an existing folder is fine
        }
    }

    @Test func prepareRefusesASymlinkedFolder() throws {
        try withFolder { root in
            let elsewhere = root.appendingPathComponent("elsewhere")
            try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: false)
            let backups = root.appendingPathComponent("backups")
            try FileManager.default.createSymbolicLink(at: backups, withDestinationURL: elsewhere)
            #expect(throws: ErrorBody.self) { try BackupName.prepare(backups) }
            do {
                try BackupName.prepare(backups)
            } catch let error as ErrorBody {
                #expect(error.code == .backupFailed)
                #expect(error.message.contains("not a plain folder"))
            }
        }
    }

    @Test func prepareRefusesAFileInThePlaceOfTheFolder() throws {
        try withFolder { root in
            let backups = root.appendingPathComponent("backups")
            try Data().write(to: backups)
            #expect(throws: ErrorBody.self) { try BackupName.prepare(backups) }
        }
    }

    @Test func prepareReportsAFolderThatCannotBeMade() throws {
        try withFolder { root in
            let blocker = root.appendingPathComponent("file")
            try Data().write(to: blocker)
            let backups = blocker.appendingPathComponent("backups")
            do {
                try BackupName.prepare(backups)
                Issue.record("a folder below a file was reported made")
            } catch let error as ErrorBody {
                #expect(error.code == .backupFailed)
                #expect(error.message.contains("cannot create"))
            }
        }
    }
}

func withFolder<T>(_ body: (URL) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("capsule-audit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try body(folder)
}
