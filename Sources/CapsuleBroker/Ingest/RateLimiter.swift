/// A token bucket per peer key: `ratePerSecond` sustained, `burst` at most at once.
struct RateLimiter {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    let ratePerSecond: Double
    let burst: Double
    private var buckets: [String: Bucket] = [:]

    init(ratePerSecond: Double, burst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = max(burst, 1)
    }

    /// Takes one token for `key` at time `now` (seconds); false when the peer is over its rate.
    mutating func allow(_ key: String, now: Double) -> Bool {
        var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
        bucket.tokens = min(burst, bucket.tokens + max(0, now - bucket.updated) * ratePerSecond)
        bucket.updated = now
        let allowed = bucket.tokens >= 1
        if allowed { bucket.tokens -= 1 }
        buckets[key] = bucket
        if buckets.count > 100_000 { buckets = buckets.filter { now - $0.value.updated < 60 } }
        return allowed
    }
}
