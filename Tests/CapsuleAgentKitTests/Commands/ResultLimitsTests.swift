import CapsuleProtocol
import Testing

@testable import CapsuleAgentKit

struct ResultLimitsTests {
    @Test func aSmallResultPassesUnchanged() {
        let result = CommandResult(commandId: "cmd_a", success: true, message: "done", data: .object(["n": .number(1)]))
        #expect(ResultLimits.capped(result) == result)
    }

    @Test func aLongMessageIsCutWithAMarkerAndFitsTheCap() throws {
        let result = CommandResult(commandId: "cmd_a", success: true, message: String(repeating: "m", count: 10_000))
        let message = try #require(ResultLimits.capped(result).message)
        #expect(message.count <= ResultLimits.maxMessageCharacters)
        #expect(message.hasSuffix("…[truncated]"))
        #expect(message.hasPrefix(String(repeating: "m", count: 4_000)))
    }

    @Test func aMessageAtTheCapIsKept() {
        let text = String(repeating: "m", count: ResultLimits.maxMessageCharacters)
        let result = CommandResult(commandId: "cmd_a", success: true, message: text)
        #expect(ResultLimits.capped(result).message == text)
    }

    @Test func aLongErrorMessageIsCutToo() throws {
        let result = CommandResult(
            commandId: "cmd_a",
            success: false,
            error: ErrorBody("boom", String(repeating: "e", count: 9_000))
        )
        let capped = ResultLimits.capped(result)
        let message = try #require(capped.error?.message)
        #expect(message.count <= ResultLimits.maxMessageCharacters)
        #expect(message.hasSuffix("…[truncated]"))
        #expect(capped.error?.code == "boom")
    }

    @Test func aResultOverTheBodyCapBecomesAFailureTheBrokerCanRead() throws {
        let big = JSONValue.array((0..<2_000).map { _ in .string(String(repeating: "x", count: 40)) })
        let result = CommandResult(commandId: "cmd_a", success: true, message: "done", data: big)
        #expect(WireCodec.json(result).count > ResultLimits.maxBodyBytes)
        let capped = ResultLimits.capped(result)
        #expect(capped.commandId == "cmd_a")
        #expect(!capped.success)
        #expect(capped.data == nil && capped.message == nil)
        #expect(capped.error?.code == .resultTooLarge)
        #expect(capped.error?.message.contains("exceeds \(ResultLimits.maxBodyBytes)") == true)
        #expect(WireCodec.json(capped).count < 1_024)
    }
}
