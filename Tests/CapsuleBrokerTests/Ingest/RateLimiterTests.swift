import Testing

@testable import CapsuleBroker

extension RateLimiter {
    /// Offers one message per `(key, time)` in order and returns what was allowed.
    mutating func offer(_ messages: [(String, Double)]) -> [Bool] {
        messages.map { allow($0.0, now: $0.1) }
    }
}

struct RateLimiterTests {
    @Test func aNewPeerMaySendItsBurstAtOnceAndNoMore() {
        var limiter = RateLimiter(ratePerSecond: 1, burst: 3)
        let outcome = limiter.offer(Array(repeating: ("peer", 100), count: 5))
        #expect(outcome == [true, true, true, false, false])
    }

    @Test func tokensComeBackAtTheRate() {
        var limiter = RateLimiter(ratePerSecond: 2, burst: 2)
        let outcome = limiter.offer([
            ("peer", 0), ("peer", 0), ("peer", 0.25), ("peer", 0.5), ("peer", 0.5), ("peer", 1.0),
        ])
        // Half a token after 0.25 s is not a token; a whole one after 0.5 s at 2/s is.
        #expect(outcome == [true, true, false, true, false, true])
    }

    @Test func aLongSilenceRefillsOnlyUpToTheBurst() {
        var limiter = RateLimiter(ratePerSecond: 10, burst: 3)
        _ = limiter.offer(Array(repeating: ("peer", 0), count: 3))
        let later = limiter.offer(Array(repeating: ("peer", 3_600), count: 10))
        #expect(later.filter { $0 }.count == 3)
    }

    @Test func eachKeyHasItsOwnBucket() {
        var limiter = RateLimiter(ratePerSecond: 1, burst: 1)
        let outcome = limiter.offer([("a", 0), ("a", 0), ("b", 0), ("b", 0)])
        #expect(outcome == [true, false, true, false], "a's flood does not throttle b")
    }

    @Test func aBurstBelowOneStillLetsOneMessageThrough() {
        var limiter = RateLimiter(ratePerSecond: 1, burst: 0)
        #expect(limiter.burst == 1)
        let outcome = limiter.offer([("peer", 0), ("peer", 0)])
        #expect(outcome == [true, false])
    }

    @Test func aClockThatGoesBackRefillsNothingAndCountsOnFromThere() {
        var limiter = RateLimiter(ratePerSecond: 100, burst: 1)
        let outcome = limiter.offer([("peer", 50), ("peer", 10), ("peer", 10.005), ("peer", 10.02)])
        #expect(outcome == [true, false, false, true])
    }
}
