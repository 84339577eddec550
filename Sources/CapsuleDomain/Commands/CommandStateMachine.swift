/// What can happen to a command (design §4).
package enum CommandEvent: Sendable, Hashable, CaseIterable {
    /// The agent acknowledged the command and started it.
    case acknowledged
    /// The agent returned `success: true`.
    case succeeded
    /// The agent returned `success: false`.
    case failed
    /// `expiresAt` passed.
    case expired
    /// An operator cancelled it.
    case cancelled
}

/// The outcome of applying a ``CommandEvent`` to a command in a given state.
package enum CommandTransition: Sendable, Hashable {
    /// Move to this state.
    case moveTo(CommandStatus)
    /// Legal, but nothing changes (a repeated acknowledgement after redelivery).
    case unchanged
    /// Illegal; the reason is a short sentence for the operator and the audit trail.
    case rejected(String)
}

/// The command lifecycle as a pure state machine.
package enum CommandStateMachine {
    package static func apply(_ event: CommandEvent, to status: CommandStatus) -> CommandTransition {
        if status.isTerminal {
            return .rejected("command is already \(status.rawValue)")
        }
        switch (status, event) {
        case (.pending, .acknowledged): return .moveTo(.running)
        case (.running, .acknowledged): return .unchanged
        case (_, .succeeded): return .moveTo(.succeeded)
        case (_, .failed): return .moveTo(.failed)
        case (_, .expired): return .moveTo(.expired)
        case (_, .cancelled): return .moveTo(.cancelled)
        default: return .rejected("cannot apply \(event) to a \(status.rawValue) command")
        }
    }
}
