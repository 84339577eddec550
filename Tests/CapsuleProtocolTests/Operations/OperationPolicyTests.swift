import CapsuleDomain
import CapsuleProtocol
import Testing

/// Every operation's access rule, in one table: adding an operation without deciding who may call
/// it fails `everyOperationIsInTheTable`.
struct OperationPolicyTests {
    enum Needed: Equatable { case viewer, `operator`, owner, auditOnly }

    static let table: [(service: String, op: String, needed: Needed)] = [
        ("broker", "command.create", .operator), ("broker", "command.get", .viewer),
        ("broker", "command.wait", .viewer),
        ("broker", "command.list", .viewer), ("broker", "command.cancel", .operator),
        ("broker", "command.retry", .operator),
        ("broker", "journal.replay", .auditOnly), ("broker", "journal.ack", .auditOnly),
        ("broker", "broker.stats", .viewer),
        ("broker", "token.create", .operator), ("broker", "token.create_batch", .operator),
        ("broker", "token.list", .viewer),
        ("broker", "token.revoke", .operator), ("broker", "agent.list", .viewer),
        ("broker", "agent.disable", .operator),
        ("broker", "agent.enable", .operator), ("broker", "agent.revoke", .operator),
        ("broker", "agent.forget", .operator),
        ("broker", "service.forget", .operator), ("broker", "operator.add", .owner),
        ("broker", "operator.list", .viewer),
        ("broker", "operator.remove", .owner), ("broker", "settings.get", .viewer), ("broker", "settings.set", .owner),
        ("broker", "cluster.info", .viewer), ("broker", "session.whoami", .viewer),
        ("aggregator", "status.list", .viewer), ("aggregator", "status.summary", .viewer),
        ("aggregator", "agents.list", .viewer),
        ("aggregator", "service.show", .viewer), ("aggregator", "aggregator.stats", .viewer),
        ("aggregator", "journal.replay", .auditOnly), ("aggregator", "journal.ack", .auditOnly),
        ("audit", "audit.query", .viewer), ("audit", "audit.backup", .owner),
    ]

    @Test func everyOperationIsInTheTable() {
        let declared = Set(OperationPolicy.all.map { "\($0.service)/\($0.name)" })
        let tabled = Set(Self.table.map { "\($0.service)/\($0.op)" })
        #expect(
            declared == tabled,
            "missing from the table: \(declared.subtracting(tabled).sorted()); not operations: \(tabled.subtracting(declared).sorted())"
        )
    }

    @Test(arguments: table.indices)
    func eachRoleGetsExactlyWhatItNeeds(_ index: Int) {
        let row = Self.table[index]
        for role in OperatorRole.allCases {
            let refusal = OperationPolicy.check(.operator(name: "ann", role: role), service: row.service, op: row.op)
            let allowed: Bool
            switch row.needed {
            case .viewer: allowed = true
            case .operator: allowed = role >= .operator
            case .owner: allowed = role == .owner
            case .auditOnly: allowed = false
            }
            #expect((refusal == nil) == allowed, "\(role) \(row.service) \(row.op)")
            if let refusal { #expect(refusal.code == .forbidden) }
        }
        let asAudit = OperationPolicy.check(.internalService("audit"), service: row.service, op: row.op)
        let asAggregator = OperationPolicy.check(.internalService("aggregator"), service: row.service, op: row.op)
        #expect(asAudit == nil, "the audit writer may call \(row.op)")
        #expect((asAggregator == nil) == (row.needed != .auditOnly), "the aggregator and \(row.op)")
    }

    @Test func unknownOperationsAreRefusedAsUnknown() {
        let refusal = OperationPolicy.check(.operator(name: "ann", role: .owner), service: "broker", op: "shell.exec")
        #expect(refusal?.code == .unknownOp)
        // The same name on another service is another operation.
        #expect(
            OperationPolicy.check(.operator(name: "ann", role: .owner), service: "aggregator", op: "command.create")?
                .code == .unknownOp
        )
        #expect(
            OperationPolicy.check(.internalService("audit"), service: "nope", op: "status.list")?.code == .unknownOp
        )
    }

    @Test func rolesAreOrderedWeakestFirst() {
        #expect(OperatorRole.viewer < .operator)
        #expect(OperatorRole.operator < .owner)
        #expect(OperatorRole.allCases.sorted() == [.viewer, .operator, .owner])
        #expect(!(OperatorRole.owner < .owner))
    }
}
