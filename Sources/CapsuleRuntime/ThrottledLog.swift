package import Logging

/// A log line that may repeat (a store error on a full disk, say): written at most once per
/// interval, with the count of occurrences it stands for.
package struct ThrottledLog {
    let interval: Double
    private var last: [String: (at: Double, suppressed: Int)] = [:]

    package init(interval: Double = 10) { self.interval = interval }

    /// Logs `message` under `key` unless it was logged less than `interval` seconds ago.
    package mutating func log(
        _ key: String,
        level: Logger.Level,
        _ message: Logger.Message,
        metadata: Logger.Metadata = [:],
        logger: Logger,
        now: Double
    ) {
        if let previous = last[key], now - previous.at < interval {
            last[key]!.suppressed += 1
            return
        }
        var metadata = metadata
        if let previous = last[key], previous.suppressed > 0 { metadata["log.repeated"] = "\(previous.suppressed)" }
        last[key] = (now, 0)
        if last.count > 1_000 { last = last.filter { now - $0.value.at < interval } }
        logger.log(level: level, message, metadata: metadata)
    }
}
