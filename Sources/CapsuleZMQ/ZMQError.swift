import CZeroMQ

/// An error returned by libzmq, carrying errno and libzmq's readable message.
package struct ZMQError: Error, Hashable, CustomStringConvertible {
    /// The errno value libzmq reported.
    package var code: Int32
    /// What the wrapper was doing when libzmq failed (for example `"bind tcp://*:7401"`).
    package var operation: String

    package init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// Captures `zmq_errno()` right after a failed call.
    package static func last(_ operation: String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation)
    }

    package var message: String { String(cString: zmq_strerror(code)) }

    package var description: String { "\(operation): \(message) (errno \(code))" }

    package var isAgain: Bool { code == EAGAIN }
    package var isHostUnreachable: Bool { code == EHOSTUNREACH }
    package var isTerminated: Bool { code == ETERM }
    package var isInterrupted: Bool { code == EINTR }
}
