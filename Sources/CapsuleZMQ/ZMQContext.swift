import CZeroMQ

/// A libzmq context. Contexts are thread-safe, so this type is `Sendable`; sockets are not.
package final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// Creates a context with `ioThreads` I/O threads.
    package init(ioThreads: Int32 = 1) {
        guard let handle = zmq_ctx_new() else {
            fatalError("zmq_ctx_new failed: \(ZMQError.last("zmq_ctx_new"))")
        }
        zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
        // Raise libzmq's default socket cap (1023) so one broker can hold many peers.
        zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, 65_535)
        self.handle = handle
    }

    deinit {
        // Every socket must be closed (with a bounded linger) before this, or termination blocks.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// libzmq's version as `(major, minor, patch)`.
    package static var version: (Int32, Int32, Int32) {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (major, minor, patch)
    }

    /// Whether this libzmq build supports CURVE.
    package static var hasCurve: Bool { zmq_has("curve") != 0 }
}
