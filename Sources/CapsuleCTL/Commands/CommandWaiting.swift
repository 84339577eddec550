import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// Waits for a command without polling: `command.wait` is answered the moment the result is stored.
enum CommandWaiting {
    static func untilTerminal(_ client: CTLClient, _ command: CommandRecord, timeout: Double) throws -> CommandRecord {
        var command = command
        let deadline = Date().addingTimeInterval(timeout)
        while !command.status.isTerminal {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                throw CTLError(
                    .timedOut,
                    "\(command.id) is still \(command.status.rawValue) after \(Int(timeout)) s; it may still finish (see capsulectl command show \(command.id), or capsulectl command cancel \(command.id))"
                )
            }
            let wait = min(left, BrokerOps.CommandWait.maxSeconds)
            command = try client.call(
                BrokerOps.CommandWait.self,
                .init(id: command.id, timeoutSeconds: wait),
                timeout: wait + 5
            )
        }
        return command
    }
}
