package import Foundation

/// Starts a program with `posix_spawn` the way a child of a long-running Capsule process must start:
/// with only the three descriptors it is given (every other descriptor of ours is closed in the
/// child, so a long-lived child never holds another run's pipes or sockets open), default signal
/// dispositions and an empty signal mask (a daemon that ignores SIGPIPE does not pass that on), and
/// optionally in a process group of its own (so a timeout can stop what it started, too).
///
/// Foundation's `Process` is not used where this is: on Linux it learns that a child ended from a
/// socket the child inherits, so a background process the child leaves behind (`sleep 30 &`), or
/// anything else holding that socket, keeps it "running" long after it exited.
package enum ChildProcess {
    /// Why a program could not be started.
    package struct SpawnError: Error, CustomStringConvertible {
        package var program: String
        package var errno: Int32
        package var description: String { "cannot start \(program): \(String(cString: strerror(errno)))" }
    }

    /// How a child ended.
    package enum Exit: Sendable, Hashable {
        case exited(Int32)
        case signalled(Int32)

        /// The exit code, or the signal number for a child a signal ended (as `Process` reports it).
        package var code: Int32 {
            switch self {
            case .exited(let code), .signalled(let code): code
            }
        }
    }

    /// Spawns `path` with `arguments` (argv[0] is `path`) and returns its pid.
    package static func spawn(
        _ path: String,
        _ arguments: [String],
        environment: [String: String],
        stdin: Int32,
        stdout: Int32,
        stderr: Int32,
        newProcessGroup: Bool = false
    ) throws(SpawnError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        for fd in OpenDescriptors.list() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw SpawnError(program: path, errno: result) }
        return pid
    }

    /// The child's exit, without waiting; nil while it runs.
    package static func poll(_ pid: pid_t) -> Exit? {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return result < 0 ? .exited(-1) : nil }
        return decode(status)
    }

    /// Waits for the child to end.
    package static func wait(_ pid: pid_t) -> Exit {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
        return result == pid ? decode(status) : .exited(-1)
    }

    private static func decode(_ status: Int32) -> Exit {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }
}
