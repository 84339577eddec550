import ArgumentParser
import CapsuleCTL
import CapsuleProtocol
import Foundation
import Testing

struct OutputTests {
    struct Row: Encodable {
        var code: String
        var count: Int
        var ok: Bool
        var at: Date
        var note: String?
    }

    let rows = [
        Row(code: "billing", count: 2, ok: true, at: Date(timeIntervalSince1970: 1_796_159_726.5), note: "007"),
        Row(code: "reports", count: 0, ok: false, at: Date(timeIntervalSince1970: 0), note: nil),
    ]

    @Test func jsonListsAreArraysWithMillisecondTimestamps() throws {
        let text = JSONOutput.render(rows)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        #expect(parsed.count == 2)
        #expect(parsed[0]["at"] as? String == "2026-12-01T21:15:26.500Z")
    }

    @Test func yamlIsTheSameDocument() {
        let text = YAMLOutput.render(rows)
        #expect(
            text.hasPrefix("- at: '2026-12-01T21:15:26.500Z'") || text.hasPrefix("- at: \"2026-12-01T21:15:26.500Z\"")
                || text.hasPrefix("- at: 2026-12-01T21:15:26.500Z")
        )
        #expect(text.contains("  count: 2"))
        #expect(text.contains("  ok: true"))
        #expect(text.contains("  note: '007'") || text.contains("  note: \"007\""))
    }

    @Test func wideColumnsAndNoHeaders() {
        let view = TableView<Row>().column("CODE") { $0.code }.column("COUNT", wide: true) { String($0.count) }.column(
            "NOTE"
        ) { $0.note ?? "-" }
        #expect(view.render(rows, wide: false) == "CODE     NOTE\nbilling  007\nreports  -")
        #expect(view.render(rows, wide: true) == "CODE     COUNT  NOTE\nbilling  2      007\nreports  0      -")
        #expect(view.render(rows, wide: false, headers: false) == "billing  007\nreports  -")
    }

    @Test(arguments: [
        (ErrorBody.Code.forbidden, CTLExitCode.refused), (.notEnrolled, .refused), (.keyRevoked, .refused),
        (.confirmationRequired, .refused),
        (.invalidPayload, .refused), (.unknownService, .notFound), (.unknownCommand, .notFound),
        (.unknownAction, .notFound),
        (.unreachable, .unreachable), (.serviceUnavailable, .unreachable), (.timeout, .timedOut), (.noKey, .usage),
        (.internal, .failed),
    ])
    func errorCodesMapToExitCodes(_ code: ErrorBody.Code, _ exit: CTLExitCode) {
        #expect(CTLExitCode.of(code) == exit)
        #expect(CTLError.from(ErrorBody(code, "m")).exitCode == exit)
    }

    @Test func theExitCodeTableIsInTheHelp() {
        let help = CapsuleCTLCommand.helpMessage(columns: 10_000)
        #expect(help.contains("EXIT CODES"))
        for code in CTLExitCode.allCases { #expect(help.contains("  \(code.rawValue)  \(code.meaning.prefix(20))")) }
    }

    @Test func completionScriptsGenerate() {
        for shell in ["bash", "zsh", "fish"] {
            let script = CapsuleCTLCommand.completionScript(for: .init(rawValue: shell)!)
            #expect(script.contains("capsulectl"))
            #expect(script.contains("---completion"), "\(shell): custom completions call capsulectl itself")
        }
    }
}
