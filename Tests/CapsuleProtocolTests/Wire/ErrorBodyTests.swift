import CapsuleProtocol
import Foundation
import Testing

struct ErrorBodyTests {
    @Test func aCodeIsABareStringOnTheWire() throws {
        #expect(String(decoding: WireCodec.json(ErrorBody.Code.notFound), as: UTF8.self) == #""not_found""#)
        let body =
            try JSONSerialization.jsonObject(with: WireCodec.json(ErrorBody(.tokenUsed, "used by agt_1")))
            as? [String: String]
        #expect(body == ["code": "token_used", "message": "used by agt_1"])
    }

    @Test func anUnknownCodeDecodesAndKeepsItsText() throws {
        let error = try WireCodec.fromJSON(
            ErrorBody.self,
            Data(#"{"code":"from_a_newer_broker","message":"try later"}"#.utf8)
        )
        #expect(error.code == ErrorBody.Code(rawValue: "from_a_newer_broker"))
        #expect(error.code == "from_a_newer_broker")
        #expect(error.message == "try later")
        #expect(error.description == "from_a_newer_broker: try later")
    }

    @Test(arguments: [
        #"{"code":7,"message":"m"}"#, #"{"code":{"rawValue":"x"},"message":"m"}"#, #"{"message":"m"}"#,
        #"{"code":"x"}"#,
    ])
    func aCodeThatIsNotAStringOrMissingFieldsDoNotDecode(_ json: String) {
        #expect(throws: (any Error).self) { try WireCodec.fromJSON(ErrorBody.self, Data(json.utf8)) }
    }

    @Test func codesRoundTrip() throws {
        for code in [ErrorBody.Code.commandTerminal, .badCursor, "anything_else"] {
            let body = ErrorBody(code, "m")
            #expect(try WireCodec.fromJSON(ErrorBody.self, WireCodec.json(body)) == body)
        }
    }

    /// Every code docs/protocol.md §11 names, spelled as the document spells it.
    @Test(
        arguments: [
            (ErrorBody.Code.truncated, "truncated"), (.malformedHeader, "malformed_header"),
            (.unsupportedVersion, "unsupported_version"),
            (.unknownType, "unknown_type"), (.oversized, "oversized"), (.malformedBody, "malformed_body"),
            (.unauthenticated, "unauthenticated"), (.notEnrolled, "not_enrolled"), (.keyDisabled, "key_disabled"),
            (.keyRevoked, "key_revoked"), (.identityMismatch, "identity_mismatch"), (.notAllowed, "not_allowed"),
            (.notAnAgent, "not_an_agent"), (.agentDisabled, "agent_disabled"), (.agentRevoked, "agent_revoked"),
            (.agentCodeMismatch, "agent_code_mismatch"), (.enrollmentTokenRequired, "enrollment_token_required"),
            (.tokenInvalid, "token_invalid"), (.tokenUsed, "token_used"), (.tokenExpired, "token_expired"),
            (.tokenRevoked, "token_revoked"), (.tokenCodeMismatch, "token_code_mismatch"),
            (.agentCodeTaken, "agent_code_taken"),
            (.serviceOwned, "service_owned"), (.internal, "internal"), (.commandTerminal, "command_terminal"),
            (.unknownCommand, "unknown_command"), (.timeout, "timeout"), (.forbidden, "forbidden"),
            (.serviceUnavailable, "service_unavailable"), (.unknownOp, "unknown_op"), (.badRequest, "bad_request"),
            (.unknownService, "unknown_service"), (.unknownAction, "unknown_action"),
            (.confirmationRequired, "confirmation_required"),
            (.invalidPayload, "invalid_payload"), (.notCancellable, "not_cancellable"), (.notFound, "not_found"),
            (.finalState, "final_state"), (.conflict, "conflict"), (.badFilter, "bad_filter"),
            (.backupFailed, "backup_failed"),
            (.handlerError, "handler_error"), (.agentRestarted, "agent_restarted"), (.noKey, "no_key"),
            (.badPayload, "bad_payload"),
            (.badReply, "bad_reply"), (.unreachable, "unreachable"),
        ] as [(ErrorBody.Code, String)]
    )
    func documentedCodesAreSpelledAsDocumented(code: ErrorBody.Code, text: String) {
        #expect(code.rawValue == text)
        #expect(code.description == text)
    }
}
