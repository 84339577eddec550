/// The lifecycle status of an operator command (design §4).
public enum CommandStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case pending = "PENDING"
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case expired = "EXPIRED"
    case cancelled = "CANCELLED"

    /// Whether no further transition is possible.
    public var isTerminal: Bool {
        switch self {
        case .pending, .running: false
        case .succeeded, .failed, .expired, .cancelled: true
        }
    }
}
