import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

/// The command path's hand-written JSON: what the broker writes (``CommandRecord`` in a reply) says
/// what `JSONEncoder` says, and what it reads (``CommandResult``, `command.create` params) is what
/// `JSONDecoder` makes of the same bytes.
struct CommandJSONTests {
    static let records: [CommandRecord] = {
        let created = Date(timeIntervalSince1970: 1_764_706_310.123)
        var full = CommandRecord(
            id: "cmd_1",
            serviceCode: "billing",
            agentId: "ag_1",
            action: "rotate \"key\"",
            payload: .object(["token": .string("[REDACTED]"), "n": .number(2.5)]),
            status: .succeeded,
            actor: "operator:alice",
            createdAt: created,
            updatedAt: created.addingTimeInterval(0.004),
            expiresAt: created.addingTimeInterval(300),
            startedAt: created.addingTimeInterval(0.001),
            completedAt: created.addingTimeInterval(0.0035),
            success: false,
            message: "tab\there é 中",
            data: .array([.null, .bool(true)]),
            errorCode: "handler_failed",
            errorMessage: "it broke",
            deliveries: 2,
            retryOf: "cmd_0"
        )
        full.queued = "agent OFFLINE"
        full.oneTime = .object(["key": .string("k")])
        let minimal = CommandRecord(
            id: "cmd_2",
            serviceCode: "s",
            agentId: "ag_2",
            action: "ping",
            payload: .null,
            status: .pending,
            actor: "system",
            createdAt: Date(timeIntervalSince1970: 0),
            updatedAt: Date(timeIntervalSince1970: 0),
            expiresAt: Date(timeIntervalSince1970: 60)
        )
        return [full, minimal]
    }()

    @Test(arguments: records) func aRecordWritesWhatTheEncoderWrites(_ record: CommandRecord) throws {
        #expect(try JSONParser.parse(record.jsonData) == JSONParser.parse(WireCodec.encoder.encode(record)))
        // Read back as the encoder's text reads back (a date off the millisecond grid is rounded alike).
        #expect(
            try WireCodec.decoder.decode(CommandRecord.self, from: record.jsonData)
                == WireCodec.decoder.decode(CommandRecord.self, from: WireCodec.encoder.encode(record))
        )
    }

    static func asEncodable<T: Encodable>(_ value: T) -> Data { WireCodec.json(value) }

    /// A reply known only as `Encodable` (the broker's generic `sendReply`) still writes its own JSON.
    @Test(arguments: records) func aReplyOfARecordWritesWhatTheEncoderWrites(_ record: CommandRecord) throws {
        let reply = TypedReply(result: record)
        let written = Self.asEncodable(reply)
        #expect(written == reply.jsonData)
        #expect(try JSONParser.parse(written) == JSONParser.parse(WireCodec.encoder.encode(reply)))
        let failed = TypedReply<CommandRecord>(error: ErrorBody(.standby, "standby"))
        #expect(try JSONParser.parse(failed.jsonData) == JSONParser.parse(WireCodec.encoder.encode(failed)))
    }

    static func message(_ body: String) throws -> WireMessage {
        let header = Header(type: .request, id: "q-1", sender: "operator", ts: 0)
        return try WireCodec.decode([WireCodec.json(header), Data(body.utf8)], hasTopic: false)
    }

    @Test(arguments: [
        #"{"commandId":"cmd_1","success":true}"#,
        #"{"commandId":"cmd_1","success":false,"message":"m","data":{"a":[1,null]},"error":{"code":"x","message":"y"}}"#,
        #"{"commandId":"cmd_1","success":true,"message":null,"data":null}"#,
    ])
    func aResultReadsAsJSONDecoderReadsIt(_ body: String) throws {
        let reference = try WireCodec.decoder.decode(CommandResult.self, from: Data(body.utf8))
        #expect(try Self.message(body).decode(CommandResult.self) == reference)
        #expect(try CommandResult(fields: JSONParser.members(Data(body.utf8))) == reference)
    }

    @Test(arguments: [
        #"{"service":"broker","op":"command.create","params":{"service":"s","action":"a"}}"#,
        #"{"service":"broker","op":"command.create","params":{"service":"s","action":"a","payload":{"k":"v"},"confirm":true,"requireOnline":false,"waitSeconds":2.5}}"#,
    ])
    func createParamsReadAsJSONDecoderReadsThem(_ body: String) throws {
        typealias Request = OperationRequest<BrokerOps.CommandCreate.Params>
        let reference = try WireCodec.decoder.decode(Request.self, from: Data(body.utf8))
        let fast = try Request(fields: JSONParser.members(Data(body.utf8)))
        #expect(fast.params == reference.params)
        #expect(fast.op == reference.op && fast.service == reference.service)
        #expect(try Self.message(body).decode(Request.self).params == reference.params)
    }

    /// A field of the wrong type is refused by both readings, and the error names the field.
    @Test(arguments: [
        #"{"commandId":"cmd_1","success":"yes"}"#,
        #"{"commandId":"cmd_1","success":true,"message":5}"#,
        #"{"commandId":"cmd_1","success":true,"error":{"code":1,"message":"y"}}"#,
    ])
    func aWrongTypeIsRefused(_ body: String) throws {
        #expect(throws: (any Error).self) { try CommandResult(fields: JSONParser.members(Data(body.utf8))) }
        #expect(throws: WireError.self) { try Self.message(body).decode(CommandResult.self) }
    }

    @Test func aStoredJSONValueIsReadByTheParser() throws {
        let text = #"{"b":[1,2.5,"x"],"a":null}"#
        #expect(try WireCodec.fromJSON(JSONValue.self, Data(text.utf8)) == JSONParser.parse(Data(text.utf8)))
        #expect(throws: (any Error).self) { try WireCodec.fromJSON(JSONValue.self, Data("{".utf8)) }
    }
}
