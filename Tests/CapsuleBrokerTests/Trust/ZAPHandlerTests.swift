import CapsuleProtocol
import CapsuleStore
import Foundation
import Testing

@testable import CapsuleBroker

private let created = Date(timeIntervalSince1970: 1_700_000_000)

private func principal(
    _ kind: Principal.Kind,
    _ state: Principal.State = .active,
    role: Principal.Role? = nil
) -> Principal {
    Principal(
        publicKey: "KEY",
        kind: kind,
        identity: "id-\(kind.rawValue)",
        role: role,
        state: state,
        createdAt: created
    )
}

struct ZAPCase: Sendable, CustomTestStringConvertible {
    var name: String
    var mechanism: String
    var domain: String
    var publicKey: String?
    var principal: Principal?
    /// nil: accepted; otherwise the refusal text.
    var refusal: String?
    /// The ZAP status of a refusal: 400 is final, 300 lets libzmq retry after HANDSHAKE_IVL.
    var status: String

    init(
        _ name: String,
        mechanism: String = "CURVE",
        _ domain: String,
        key: String? = "KEY",
        _ principal: Principal?,
        refused refusal: String?,
        status: String = "400"
    ) {
        self.status = status
        self.name = name
        self.mechanism = mechanism
        self.domain = domain
        self.publicKey = key
        self.principal = principal
        self.refusal = refusal
    }

    var testDescription: String { name }
}

struct ZAPHandlerTests {
    static let domains = ["ingest", "bus", "router"]

    static let cases: [ZAPCase] = {
        var cases: [ZAPCase] = []
        // CURVE is required on every domain, whoever asks.
        for domain in domains {
            cases.append(
                .init(
                    "NULL mechanism on \(domain)",
                    mechanism: "NULL",
                    domain,
                    principal(.service),
                    refused: "CURVE required"
                )
            )
            cases.append(
                .init(
                    "PLAIN mechanism on \(domain)",
                    mechanism: "PLAIN",
                    domain,
                    principal(.agent),
                    refused: "CURVE required"
                )
            )
            cases.append(
                .init(
                    "lowercase curve on \(domain)",
                    mechanism: "curve",
                    domain,
                    principal(.agent),
                    refused: "CURVE required"
                )
            )
            cases.append(
                .init(
                    "CURVE without a key on \(domain)",
                    domain,
                    key: nil,
                    principal(.service),
                    refused: "CURVE required"
                )
            )
        }
        // A revoked key is refused everywhere, whatever its kind.
        for domain in domains + ["unknown"] {
            for kind in [Principal.Kind.agent, .service, .operator] {
                cases.append(
                    .init(
                        "revoked \(kind.rawValue) on \(domain)",
                        domain,
                        principal(kind, .revoked),
                        refused: "key revoked"
                    )
                )
            }
        }
        cases += [
            // Unknown keys may reach the router (to enrol) and nothing else.
            .init("unknown key on router", "router", nil, refused: nil),
            .init("unknown key on ingest", "ingest", nil, refused: "key not enrolled", status: "300"),
            .init("unknown key on bus", "bus", nil, refused: "bus is for internal services", status: "300"),
            // Agents publish on ingest and talk on the router, but never read the bus.
            .init("agent on ingest", "ingest", principal(.agent), refused: nil),
            .init("agent on router", "router", principal(.agent), refused: nil),
            .init("agent on bus", "bus", principal(.agent), refused: "bus is for internal services", status: "300"),
            // Internal services use all three.
            .init("service on ingest", "ingest", principal(.service), refused: nil),
            .init("service on bus", "bus", principal(.service), refused: nil),
            .init("service on router", "router", principal(.service), refused: nil),
            // Operators use the router only: the bus carries raw reports (design §5, issue: a viewer read
            // secrets on the bus), and they publish nothing on ingest.
            .init("operator on router", "router", principal(.operator, role: .viewer), refused: nil),
            .init(
                "viewer on bus",
                "bus",
                principal(.operator, role: .viewer),
                refused: "bus is for internal services; operators follow the audit trail",
                status: "400"
            ),
            .init(
                "owner on bus",
                "bus",
                principal(.operator, role: .owner),
                refused: "bus is for internal services; operators follow the audit trail",
                status: "400"
            ),
            .init(
                "operator on ingest",
                "ingest",
                principal(.operator, role: .owner),
                refused: "key not enrolled",
                status: "300"
            ),
            // A disabled key may not open ingest (temporarily: it may be re-enabled), but it may reach
            // the router, where each message is refused with a clear error.
            .init(
                "disabled agent on ingest",
                "ingest",
                principal(.agent, .disabled),
                refused: "key disabled",
                status: "300"
            ),
            .init("disabled agent on router", "router", principal(.agent, .disabled), refused: nil),
            // Unknown domains are refused.
            .init("service on an unknown domain", "admin", principal(.service), refused: "unknown domain"),
            .init("unknown key on an empty domain", "", nil, refused: "unknown domain"),
        ]
        return cases
    }()

    @Test(arguments: cases)
    func decide(_ row: ZAPCase) {
        let decision = ZAPHandler.decide(
            mechanism: row.mechanism,
            domain: row.domain,
            publicKey: row.publicKey,
            principal: row.principal
        )
        if let refusal = row.refusal {
            #expect(decision == ZAPHandler.Decision(status: row.status, text: refusal, userId: ""))
        } else {
            #expect(decision == ZAPHandler.Decision(status: "200", text: "OK", userId: row.publicKey ?? "<missing>"))
        }
    }

    /// Accepted connections carry the key itself as User-Id, so each message can be re-checked.
    @Test func userIdIsTheConnectingKey() {
        let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        let decision = ZAPHandler.decide(mechanism: "CURVE", domain: "router", publicKey: key, principal: nil)
        #expect(decision.status == "200")
        #expect(decision.userId == key)
    }
}
