import CZeroMQ
import Foundation

/// A Linux `eventfd` that one thread signals and a poll loop watches: how another thread wakes a
/// ``LoopThread`` (posted jobs) or hands it a ``LoopWorker``'s results.
final class EventSignal: Sendable {
    let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))

    deinit { Foundation.close(fd) }

    /// Makes the descriptor readable (from any thread).
    func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Foundation.write(fd, $0.baseAddress, 8) }
    }

    /// Reads the count back to zero, so the descriptor polls idle again.
    func clear() {
        var counter: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &counter) { Foundation.read(fd, $0.baseAddress, 8) }
    }
}
