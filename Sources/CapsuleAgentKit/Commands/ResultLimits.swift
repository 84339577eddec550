import CapsuleDomain
import CapsuleProtocol

/// Caps a result before it leaves the agent (docs/protocol.md §9): a message is cut at 4 KiB, and a
/// result whose body would exceed 64 KiB is replaced by a failure the broker can read.
enum ResultLimits {
    static let maxBodyBytes = 64 * 1024
    static let maxMessageCharacters = 4_096

    static func capped(_ result: CommandResult) -> CommandResult {
        var result = result
        if let message = result.message, message.count > maxMessageCharacters {
            result.message = String(message.prefix(maxMessageCharacters - 13)) + "…[truncated]"
        }
        if let message = result.error?.message, message.count > maxMessageCharacters {
            result.error?.message = String(message.prefix(maxMessageCharacters - 13)) + "…[truncated]"
        }
        let size = WireCodec.json(result).count
        guard size > maxBodyBytes else { return result }
        return CommandResult(
            commandId: result.commandId,
            success: false,
            error: ErrorBody(.resultTooLarge, "result of \(size) bytes exceeds \(maxBodyBytes)")
        )
    }
}
