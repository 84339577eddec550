import Foundation

/// Finds TCP ports on 127.0.0.1 that nothing is bound to, for tests and benchmarks that start real
/// processes on loopback.
package enum LoopbackPort {
    /// A random port in 20000–59999 that could be bound just now (another process may still take it).
    package static func free() -> Int {
        for _ in 0..<100 {
            let candidate = Int.random(in: 20_000..<60_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(candidate).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if rc == 0 { return candidate }
        }
        return 45_000 + Int.random(in: 0..<1_000)
    }
}
