/// PUB/SUB topic frames. Subscribers filter on these prefixes (docs/protocol.md, "Topics").
package enum Topic {
    package static func heartbeat(_ agentId: String) -> String { "hb.\(agentId)" }
    package static func health(_ agentId: String) -> String { "health.\(agentId)" }
    package static func report(_ agentId: String) -> String { "report.\(agentId)" }
    package static func event(_ action: String) -> String { "evt.\(action)" }
    package static func beacon(_ publisher: String) -> String { "beacon.\(publisher)" }

    package static let heartbeatPrefix = "hb."
    package static let healthPrefix = "health."
    package static let reportPrefix = "report."
    package static let eventPrefix = "evt."
    package static let beaconPrefix = "beacon."

    /// The topic a message of this type and sender must carry; the broker drops mismatches.
    package static func expected(for type: MessageType, sender: String, action: String? = nil) -> String? {
        switch type {
        case .heartbeat: heartbeat(sender)
        case .health: health(sender)
        case .serviceReport: report(sender)
        case .beacon: beacon(sender)
        case .event: action.map(event)
        default: nil
        }
    }
}
