import Foundation

/// This process's open descriptors: what a child must not inherit, and what an image that
/// replaces itself must not carry over.
package enum OpenDescriptors {
    /// The open descriptors (the directory listing's own included; closing or marking one that is
    /// already closed is harmless).
    package static func list() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        if !names.isEmpty { return names.compactMap { Int32($0) } }
        return Array(3..<Int32(min(getdtablesize(), 65_536)))
    }

    /// Marks every descriptor above standard error close-on-exec, for a process about to `execv`
    /// itself. Libraries that open theirs without the flag (postgres-nio's sockets) would otherwise
    /// leave them open, unread, in the new image.
    package static func closeOnExec() {
        for fd in list() where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}
