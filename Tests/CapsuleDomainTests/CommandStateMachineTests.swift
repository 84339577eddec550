import CapsuleDomain
import Testing

struct CommandStateMachineTests {
    /// The complete legal table of design §4; every pair not listed here must be rejected.
    static let legal: [CommandStatus: [CommandEvent: CommandTransition]] = [
        .pending: [
            .acknowledged: .moveTo(.running),
            .succeeded: .moveTo(.succeeded),
            .failed: .moveTo(.failed),
            .expired: .moveTo(.expired),
            .cancelled: .moveTo(.cancelled),
        ],
        .running: [
            .acknowledged: .unchanged,
            .succeeded: .moveTo(.succeeded),
            .failed: .moveTo(.failed),
            .expired: .moveTo(.expired),
            .cancelled: .moveTo(.cancelled),
        ],
    ]

    @Test(arguments: CommandStatus.allCases, CommandEvent.allCases)
    func apply(_ status: CommandStatus, _ event: CommandEvent) {
        let transition = CommandStateMachine.apply(event, to: status)
        if let expected = Self.legal[status]?[event] {
            #expect(transition == expected)
        } else {
            guard case .rejected(let why) = transition else {
                Issue.record("\(event) on \(status.rawValue) should be rejected, got \(transition)")
                return
            }
            #expect(why.contains(status.rawValue), "the rejection names the status: \(why)")
        }
    }

    @Test func terminalStatusesAreExactlyTheOnesWithoutTransitions() {
        let terminal = CommandStatus.allCases.filter(\.isTerminal)
        #expect(Set(terminal) == [.succeeded, .failed, .expired, .cancelled])
        #expect(Set(CommandStatus.allCases.filter { !$0.isTerminal }) == Set(Self.legal.keys))
    }

    @Test(arguments: [CommandStatus.succeeded, .failed, .expired, .cancelled])
    func terminalRejectionMessage(_ status: CommandStatus) {
        #expect(CommandStateMachine.apply(.succeeded, to: status) == .rejected("command is already \(status.rawValue)"))
    }

    /// Every path from PENDING ends in a terminal state after at most two events and stays there.
    @Test func noEventLeavesATerminalState() {
        for first in CommandEvent.allCases {
            var status = CommandStatus.pending
            if case .moveTo(let next) = CommandStateMachine.apply(first, to: status) { status = next }
            for second in CommandEvent.allCases {
                var after = status
                switch CommandStateMachine.apply(second, to: status) {
                case .moveTo(let next): after = next
                case .unchanged: break
                case .rejected:
                    #expect(status.isTerminal, "only terminal states reject; \(second) on \(status.rawValue)")
                }
                if status.isTerminal { #expect(after == status) }
            }
        }
    }
}
