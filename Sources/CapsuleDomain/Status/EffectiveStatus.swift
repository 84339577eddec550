/// The one status an operator sees per service; computed only by the aggregator (design §3).
public enum EffectiveStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case healthy = "HEALTHY"
    case unhealthy = "UNHEALTHY"
    case stale = "STALE"
    case offline = "OFFLINE"
    case unknown = "UNKNOWN"
}
