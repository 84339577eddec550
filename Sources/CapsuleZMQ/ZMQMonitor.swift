import CZeroMQ
import Foundation

/// A socket event reported by `zmq_socket_monitor`.
package struct ZMQMonitorEvent: Sendable, Hashable {
    package enum Kind: Sendable, Hashable {
        case connected, connectDelayed, connectRetried, listening, bindFailed, accepted, acceptFailed
        case closed, closeFailed, disconnected, monitorStopped
        case handshakeFailedNoDetail, handshakeSucceeded, handshakeFailedProtocol, handshakeFailedAuth
        case other(UInt16)

        init(_ raw: UInt16) {
            switch Int32(raw) {
            case ZMQ_EVENT_CONNECTED: self = .connected
            case ZMQ_EVENT_CONNECT_DELAYED: self = .connectDelayed
            case ZMQ_EVENT_CONNECT_RETRIED: self = .connectRetried
            case ZMQ_EVENT_LISTENING: self = .listening
            case ZMQ_EVENT_BIND_FAILED: self = .bindFailed
            case ZMQ_EVENT_ACCEPTED: self = .accepted
            case ZMQ_EVENT_ACCEPT_FAILED: self = .acceptFailed
            case ZMQ_EVENT_CLOSED: self = .closed
            case ZMQ_EVENT_CLOSE_FAILED: self = .closeFailed
            case ZMQ_EVENT_DISCONNECTED: self = .disconnected
            case ZMQ_EVENT_MONITOR_STOPPED: self = .monitorStopped
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: self = .handshakeFailedNoDetail
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: self = .handshakeSucceeded
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: self = .handshakeFailedProtocol
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: self = .handshakeFailedAuth
            default: self = .other(raw)
            }
        }
    }

    /// The `ZMQ_EVENT_*` mask of `kinds`, for ``ZMQMonitor/init(context:target:events:)``.
    package static func mask(_ kinds: Kind...) -> Int32 {
        kinds.reduce(0) { mask, kind in
            mask
                | {
                    switch kind {
                    case .connected: ZMQ_EVENT_CONNECTED
                    case .connectDelayed: ZMQ_EVENT_CONNECT_DELAYED
                    case .connectRetried: ZMQ_EVENT_CONNECT_RETRIED
                    case .listening: ZMQ_EVENT_LISTENING
                    case .bindFailed: ZMQ_EVENT_BIND_FAILED
                    case .accepted: ZMQ_EVENT_ACCEPTED
                    case .acceptFailed: ZMQ_EVENT_ACCEPT_FAILED
                    case .closed: ZMQ_EVENT_CLOSED
                    case .closeFailed: ZMQ_EVENT_CLOSE_FAILED
                    case .disconnected: ZMQ_EVENT_DISCONNECTED
                    case .monitorStopped: ZMQ_EVENT_MONITOR_STOPPED
                    case .handshakeFailedNoDetail: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                    case .handshakeSucceeded: ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                    case .handshakeFailedProtocol: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                    case .handshakeFailedAuth: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                    case .other(let raw): Int32(raw)
                    }
                }()
        }
    }

    package var kind: Kind
    /// The event's value: a file descriptor, an errno or a ZAP status, depending on the event.
    package var value: UInt32
    package var endpoint: String
}

/// Reads monitor events of one socket through an inproc PAIR socket. Owned by the socket's thread.
package final class ZMQMonitor {
    package let socket: ZMQSocket
    private static let counter = LockedCounter()

    /// Starts monitoring `target`: every event, or only those in `events` (a mask of `ZMQ_EVENT_*`).
    /// libzmq sends each event with a blocking send from its own threads, so a monitor whose reader
    /// falls behind stalls them; a narrow mask keeps the stream small.
    package init(context: ZMQContext, target: ZMQSocket, events: Int32 = ZMQ_EVENT_ALL) throws(ZMQError) {
        let endpoint = "inproc://capsule-monitor-\(Self.counter.next())"
        guard let handle = target.handle else { throw ZMQError(code: ENOTSOCK, operation: "monitor") }
        if zmq_socket_monitor(handle, endpoint, events) != 0 {
            throw ZMQError.last("zmq_socket_monitor")
        }
        socket = try ZMQSocket(context: context, type: .pair, lingerMilliseconds: 0)
        try socket.connect(endpoint)
    }

    /// Returns the next waiting event, or nil when none is waiting.
    package func next() throws(ZMQError) -> ZMQMonitorEvent? {
        guard let message = try socket.receive(), message.frames.count == 2, message.frames[0].count >= 6 else {
            return nil
        }
        let head = [UInt8](message.frames[0])
        let event = UInt16(head[0]) | UInt16(head[1]) << 8
        let value = UInt32(head[2]) | UInt32(head[3]) << 8 | UInt32(head[4]) << 16 | UInt32(head[5]) << 24
        return ZMQMonitorEvent(
            kind: .init(event),
            value: value,
            endpoint: String(decoding: message.frames[1], as: UTF8.self)
        )
    }
}
