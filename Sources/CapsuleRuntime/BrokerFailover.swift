package import CapsuleProtocol
package import Foundation

/// Which broker of a pair a client's DEALER talks to, and when it moves on (docs/reliability.md).
///
/// A value-type state machine: the socket's connection events, `standby` refusals and clock ticks
/// go in; the router to connect to next comes out, or nil to stay. A client moves on when the
/// broker it talks to says it is the standby (to the active broker it names, else the next one),
/// or when it has not been connected for ``patience``. With one broker it never moves.
package struct BrokerFailover: Sendable {
    package let routers: [String]
    package private(set) var index = 0
    /// Since when the current router has not been connected; nil while it is.
    private var downSince: Date?

    /// How long a client waits for a broker it cannot reach before trying the next one.
    package static let patience: TimeInterval = 1.5

    package init(routers: [String], now: Date = Date()) {
        precondition(!routers.isEmpty, "a client needs at least one broker")
        self.routers = routers
        downSince = now
    }

    package var current: String { routers[index] }
    package var isPair: Bool { routers.count > 1 }
    package var isConnected: Bool { downSince == nil }

    /// The socket's handshake with `endpoint` succeeded (nil: the current router). An event from a
    /// router this client has already left (the monitor reports it late) changes nothing.
    package mutating func connected(now: Date, endpoint: String? = nil) {
        guard isCurrent(endpoint) else { return }
        downSince = nil
    }

    /// The socket lost `endpoint` (nil: the current router).
    package mutating func disconnected(now: Date, endpoint: String? = nil) {
        guard isCurrent(endpoint) else { return }
        if downSince == nil { downSince = now }
    }

    /// A refusal from the current broker: the router to move to when it says it is the standby.
    package mutating func refused(_ error: ErrorBody, now: Date) -> String? {
        guard isPair, error.code == .standby else { return nil }
        if let active = error.activeBroker, let named = routers.firstIndex(of: active), named != index {
            return move(to: named, now: now)
        }
        return move(to: (index + 1) % routers.count, now: now)
    }

    /// The router to move to when the current one stayed unreachable past ``patience``.
    package mutating func tick(now: Date) -> String? {
        guard isPair, let since = downSince, now.timeIntervalSince(since) >= Self.patience else { return nil }
        return move(to: (index + 1) % routers.count, now: now)
    }

    /// False only for an endpoint that is another router of the pair (a resolved name that matches
    /// none of them counts as the current one).
    private func isCurrent(_ endpoint: String?) -> Bool {
        guard let endpoint, endpoint != current else { return true }
        return !routers.contains(endpoint)
    }

    private mutating func move(to next: Int, now: Date) -> String {
        index = next
        downSince = now
        return routers[next]
    }
}
