import CapsuleDomain

/// Every operation of protocol v1 and who may call it: the single place authorisation is decided.
package enum OperationPolicy {
    /// Every operation, by service and name.
    package static let all: [any RequestOperation.Type] = BrokerOps.all + AggregatorOps.all + AuditOps.all

    private static let table: [String: Access] = {
        var table: [String: Access] = [:]
        for op in all { table["\(op.service)/\(op.name)"] = op.access }
        return table
    }()

    /// The access rule of `service`/`op`, or nil when no such operation exists.
    package static func access(service: String, op: String) -> Access? {
        table["\(service)/\(op)"]
    }

    /// Who is asking, as the broker knows them from their key.
    package enum Caller: Sendable, Hashable {
        case `operator`(name: String, role: OperatorRole)
        case internalService(String)
    }

    /// The services that ship with the broker and act with full rights.
    package static let builtInServices: Set<String> = ["aggregator", "audit"]

    /// A refusal: the code (`unknown_op` or `forbidden`) and a one-line message.
    package static func check(_ caller: Caller, service: String, op: String) -> ErrorBody? {
        guard let access = access(service: service, op: op) else {
            return ErrorBody(.unknownOp, "\(service) has no operation \(SafeText.quoted(op, limit: 64))")
        }
        switch (access, caller) {
        case (.role(let needed), .internalService(let name)):
            // The built-in services act for the system; any other trusted service key (a bus reader such
            // as a benchmark probe, `--trust-service NAME=KEY`) reads like a viewer and changes nothing.
            return builtInServices.contains(name) || needed == .viewer
                ? nil : ErrorBody(.forbidden, "\(op) needs the \(needed.rawValue) role; service \(name) may only read")
        case (.role(let needed), .operator(_, let role)):
            return role >= needed
                ? nil : ErrorBody(.forbidden, "\(op) needs the \(needed.rawValue) role; this key has \(role.rawValue)")
        case (.internalOnly(let allowed), .internalService(let name)):
            return allowed.contains(name)
                ? nil : ErrorBody(.forbidden, "\(op) is only for \(allowed.sorted().joined(separator: ", "))")
        case (.internalOnly(let allowed), .operator):
            return ErrorBody(.forbidden, "\(op) is only for \(allowed.sorted().joined(separator: ", "))")
        }
    }
}
