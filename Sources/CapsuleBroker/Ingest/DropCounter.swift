import Logging

/// Counts dropped messages by reason and logs them without letting a flood fill the log.
struct DropCounter {
    private(set) var counts: [String: Int] = [:]
    private var loggedThisSecond = 0
    private var second = 0

    mutating func drop(_ reason: String, sender: String, detail: String, logger: Logger, now: Double) {
        counts[reason, default: 0] += 1
        let currentSecond = Int(now)
        if currentSecond != second {
            second = currentSecond
            loggedThisSecond = 0
        }
        loggedThisSecond += 1
        guard loggedThisSecond <= 20 else { return }
        logger.warning(
            "Dropped a message.",
            metadata: ["drop.reason": "\(reason)", "peer": "\(sender)", "drop.detail": "\(detail)",
                       "drop.count": "\(counts[reason, default: 0])"]
        )
    }

    var total: Int { counts.values.reduce(0, +) }
}
