import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

/// Backup file names and the backup folder.
enum BackupName {
    static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...128).contains(bytes.count), bytes[0] != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
        }
    }

    /// Creates the folder (0700) if needed and refuses one that is a symbolic link.
    static func prepare(_ directory: URL) throws {
        var info = stat()
        if lstat(directory.path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw ErrorBody(
                    .backupFailed,
                    "\(directory.path) is not a plain folder (a symbolic link?); backups are refused"
                )
            }
            return
        }
        guard mkdir(directory.path, 0o700) == 0 else {
            throw ErrorBody(.backupFailed, "cannot create \(directory.path): \(String(cString: strerror(errno)))")
        }
    }
}
