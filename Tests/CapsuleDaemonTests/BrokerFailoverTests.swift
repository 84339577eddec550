import CapsuleProtocol
import CapsuleRuntime
import Foundation
import Testing

/// The client side of a broker pair: which broker a DEALER talks to, and when it moves on.
struct BrokerFailoverTests {
    let start = Date(timeIntervalSince1970: 1_700_000_000)
    let routers = ["tcp://a:7403", "tcp://b:7403"]

    @Test func aStandbyRefusalMovesToTheActiveBrokerItNames() {
        var failover = BrokerFailover(routers: routers + ["tcp://c:7403"], now: start)
        failover.connected(now: start)
        var refusal = ErrorBody(.standby, "standby")
        refusal.activeBroker = "tcp://c:7403"
        #expect(failover.refused(refusal, now: start) == "tcp://c:7403")
        #expect(failover.current == "tcp://c:7403")
        // Without a name, the next one.
        #expect(failover.refused(ErrorBody(.standby, "standby"), now: start) == "tcp://a:7403")
        // Any other refusal keeps the broker.
        #expect(failover.refused(ErrorBody(.forbidden, "no"), now: start) == nil)
    }

    @Test func anUnreachableBrokerIsLeftAfterThePatience() {
        var failover = BrokerFailover(routers: routers, now: start)
        #expect(failover.tick(now: start.addingTimeInterval(1)) == nil)
        #expect(failover.tick(now: start.addingTimeInterval(BrokerFailover.patience)) == "tcp://b:7403")
        failover.connected(now: start.addingTimeInterval(2))
        #expect(failover.tick(now: start.addingTimeInterval(60)) == nil, "connected: stays")
        failover.disconnected(now: start.addingTimeInterval(61))
        #expect(failover.tick(now: start.addingTimeInterval(62)) == nil)
        #expect(failover.tick(now: start.addingTimeInterval(63)) == "tcp://a:7403", "back to the first, round the list")
    }

    /// The standby refuses naming the (dead) active broker; the handshake with the standby is reported
    /// only after the client has moved back: it must not count as connected, or it never moves again.
    @Test func aLateHandshakeEventFromTheBrokerLeftBehindIsIgnored() {
        var failover = BrokerFailover(routers: routers, now: start)
        #expect(failover.tick(now: start.addingTimeInterval(BrokerFailover.patience)) == "tcp://b:7403")
        var refusal = ErrorBody(.standby, "standby")
        refusal.activeBroker = "tcp://a:7403"
        #expect(failover.refused(refusal, now: start.addingTimeInterval(2)) == "tcp://a:7403")
        failover.connected(now: start.addingTimeInterval(2.01), endpoint: "tcp://b:7403")
        #expect(!failover.isConnected, "b's handshake is not a's")
        #expect(
            failover.tick(now: start.addingTimeInterval(2 + BrokerFailover.patience)) == "tcp://b:7403",
            "a stays unreachable, so the client tries b again"
        )
        failover.connected(now: start.addingTimeInterval(4), endpoint: "tcp://b:7403")
        #expect(failover.isConnected)
        failover.disconnected(now: start.addingTimeInterval(5), endpoint: "tcp://a:7403")
        #expect(failover.isConnected, "a late disconnect from a changes nothing")
    }

    @Test func oneBrokerNeverMoves() {
        var failover = BrokerFailover(routers: ["tcp://a:7403"], now: start)
        #expect(failover.tick(now: start.addingTimeInterval(600)) == nil)
        #expect(failover.refused(ErrorBody(.standby, "standby"), now: start) == nil)
    }

    @Test func brokerListsFollowTheStandardPortLayout() throws {
        let pair = try BrokerInfo.parseBrokers("tcp://10.0.0.1:7403, cp-b:9403,cp-c")
        #expect(pair.map(\.router) == ["tcp://10.0.0.1:7403", "tcp://cp-b:9403", "tcp://cp-c:7403"])
        #expect(pair.map(\.ingest) == ["tcp://10.0.0.1:7401", "tcp://cp-b:9401", "tcp://cp-c:7401"])
        #expect(pair.map(\.bus) == ["tcp://10.0.0.1:7402", "tcp://cp-b:9402", "tcp://cp-c:7402"])
        #expect(throws: (any Error).self) { try BrokerInfo.parseBrokers("ipc:///tmp/x") }
        #expect(throws: (any Error).self) { try BrokerInfo.parseBrokers(" , ") }
    }
}
