import Foundation
import Synchronization

/// Finds TCP ports on 127.0.0.1 that nothing is bound to, for tests and benchmarks that start real
/// processes on loopback.
package enum LoopbackPort {
    /// A random port below the kernel's ephemeral range (from 10000 up to `ip_local_port_range`'s
    /// start, 32768 by default) that could be bound just now. Outgoing connections take their local
    /// ports from the ephemeral range, so a port outside it is not taken by one of the processes'
    /// own connects before the process that was given it binds it. A port is handed out once per
    /// process: two ports asked for before either is bound (a daemon's bus and metrics ports) differ.
    package static func free() -> Int {
        let upper = max(ephemeralStart, 12_000)
        for _ in 0..<100 {
            let candidate = Int.random(in: 10_000..<upper)
            let fresh = handedOut.withLock { ports in
                if ports.count > (upper - 10_000) / 2 { ports.removeAll() }
                return ports.insert(candidate).inserted
            }
            guard fresh else { continue }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(candidate).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if rc == 0 { return candidate }
        }
        return 10_000 + Int.random(in: 0..<1_000)
    }

    private static let handedOut = Mutex<Set<Int>>([])

    /// The first port of the kernel's ephemeral range.
    private static var ephemeralStart: Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32_768
    }
}
