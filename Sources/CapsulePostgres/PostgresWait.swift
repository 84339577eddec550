import CapsuleStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// Waits for a future on the calling thread, with a deadline.
enum PostgresWait {
    struct TimedOut: Error {}

    final class Box<T: Sendable>: @unchecked Sendable {
        var result: Result<T, any Error>?
        let semaphore = DispatchSemaphore(value: 0)
    }

    static func wait<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Double) throws -> T {
        let box = Box<T>()
        future.whenComplete { result in
            box.result = result
            box.semaphore.signal()
        }
        guard box.semaphore.wait(timeout: .now() + seconds) == .success, let result = box.result else {
            throw TimedOut()
        }
        return try result.get()
    }
}
