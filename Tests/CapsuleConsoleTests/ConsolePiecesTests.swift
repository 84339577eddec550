import CapsuleConsole
import CapsuleDomain
import CapsuleProtocol
import Foundation
import HTTPTypes
import Testing

struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:7480", "127.0.0.1", 7480), ("localhost:8000", "localhost", 8000), ("[::1]:7480", "::1", 7480),
        (":9000", "127.0.0.1", 9000), ("9001", "127.0.0.1", 9001), ("0.0.0.0:7480", "0.0.0.0", 7480),
    ])
    func reads(_ text: String, _ host: String, _ port: Int) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host)
        #expect(address.port == port)
    }

    @Test(arguments: ["", "host:", "host:0", "host:70000", "::1:7480", "[::1]7480", "a:b"])
    func refuses(_ text: String) {
        #expect(throws: ConsoleError.self) { try ListenAddress(parsing: text) }
    }

    @Test func loopbackIsTheDefault() throws {
        #expect(ListenAddress.default.isLoopback)
        #expect(try ListenAddress(parsing: "[::1]:1").isLoopback)
        #expect(!(try ListenAddress(parsing: "0.0.0.0:1").isLoopback))
    }
}

struct ConsoleOperationsTests {
    @Test func forwardsOperatorOperationsAndNothingInternal() {
        #expect(ConsoleOperations.isForwarded(service: "broker", op: "command.create"))
        #expect(ConsoleOperations.isForwarded(service: "aggregator", op: "status.list"))
        #expect(ConsoleOperations.isForwarded(service: "audit", op: "audit.query"))
        #expect(ConsoleOperations.isForwarded(service: "broker", op: "session.whoami"))
        #expect(!ConsoleOperations.isForwarded(service: "broker", op: "journal.replay"))
        #expect(!ConsoleOperations.isForwarded(service: "aggregator", op: "journal.ack"))
        #expect(!ConsoleOperations.isForwarded(service: "broker", op: "shell.exec"))
    }

    @Test func waitsAreBoundedAndGoToTheirOwnThreads() {
        let (params, timeout) = ConsoleOperations.prepare(
            op: "command.wait",
            params: .object(["id": .string("cmd_1"), "timeoutSeconds": .number(300)])
        )
        #expect(params["timeoutSeconds"] == .number(ConsoleOperations.maxWaitSeconds))
        #expect(timeout == ConsoleOperations.maxWaitSeconds + 10)
        #expect(ConsoleOperations.isLong(op: "command.wait", params: params))
        #expect(
            ConsoleOperations.isLong(
                op: "audit.query",
                params: .object(["afterId": .number(1), "waitSeconds": .number(8)])
            )
        )
        #expect(!ConsoleOperations.isLong(op: "audit.query", params: .object([:])))
        #expect(!ConsoleOperations.isLong(op: "status.list", params: .object([:])))
    }

    @Test func errorsMapToFittingStatuses() {
        #expect(ConsoleOperations.status(for: .forbidden).code == 403)
        #expect(ConsoleOperations.status(for: .invalidPayload).code == 400)
        #expect(ConsoleOperations.status(for: .unknownService).code == 404)
        #expect(ConsoleOperations.status(for: .timeout).code == 504)
        #expect(ConsoleOperations.status(for: .serviceUnavailable).code == 503)
    }
}

struct AuditExportTests {
    let record = AuditRecord(
        id: 7,
        event: AuditEvent(
            publisher: "broker",
            seq: 3,
            at: Date(timeIntervalSince1970: 1_700_000_000),
            action: "command.created",
            subject: "command:cmd_1",
            actor: "operator:ann",
            reason: "ran \"flush\", twice",
            details: .object(["n": .number(1)])
        )
    )

    @Test func csvHasCapsulectlsColumnsAndQuotes() {
        let row = AuditExport.row(record, format: .csv, first: true)
        #expect(AuditExport.opening(.csv) == AuditExport.csvHeader + "\n")
        #expect(
            row.hasPrefix("7,2023-11-14T22:13:20.000Z,broker,3,command.created,command:cmd_1,operator:ann,SUCCESS,,,")
        )
        #expect(row.contains("\"ran \"\"flush\"\", twice\""))
        #expect(row.hasSuffix(",\"{\"\"n\"\":1}\"\n"))
    }

    @Test func csvNeutralisesSpreadsheetFormulas() {
        #expect(AuditExport.csvField("=HYPERLINK(1)") == "'=HYPERLINK(1)")
        #expect(AuditExport.csvField("plain") == "plain")
    }

    @Test func jsonIsOneArrayOfEvents() throws {
        let text =
            AuditExport.opening(.json) + AuditExport.row(record, format: .json, first: true)
            + AuditExport.row(record, format: .json, first: false) + AuditExport.closing(.json, empty: false)
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 2)
        #expect(parsed?.first?["action"] as? String == "command.created")
        #expect(parsed?.first?["at"] as? String == "2023-11-14T22:13:20.000Z")
        let empty = AuditExport.opening(.json) + AuditExport.closing(.json, empty: true)
        #expect((try JSONSerialization.jsonObject(with: Data(empty.utf8)) as? [Any])?.isEmpty == true)
    }

    @Test func filtersComeFromTheQuery() throws {
        let query = ["action": "command.*", "result": "failure", "since": "1700000000000", "subject": ""]
        let filter = try AuditExport.filter { query[$0] }
        #expect(filter.action == "command.*")
        #expect(filter.result == .failure)
        #expect(filter.since == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(filter.subject == nil)
        #expect(throws: ErrorBody.self) { try AuditExport.filter { $0 == "since" ? "yesterday" : nil } }
    }
}

struct ServerSentEventsTests {
    @Test func framesOneEventPerBlankLine() {
        let text = ServerSentEvents.event("audit", id: 9, data: Data("{\"a\":1}".utf8))
        #expect(text == "id: 9\nevent: audit\ndata: {\"a\":1}\n\n")
    }

    @Test func noDataCanEndTheEventEarly() {
        let text = ServerSentEvents.event("audit", data: Data("one\ntwo\r".utf8))
        #expect(text == "event: audit\ndata: one\ndata: two\n\n")
    }
}
