import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// Filters shared by `audit` and `audit export`.
struct AuditFilterOptions: ParsableArguments {
    @Option(help: "Only this subject, e.g. service:billing or agent:agt_1234.")
    var subject: String?

    @Option(help: "Only this action, or a prefix ending in '.' or '*' (command.*).")
    var action: String?

    @Option(help: "Only this actor, e.g. operator:local-owner or system.")
    var actor: String?

    @Option(help: "Only SUCCESS or FAILURE.")
    var result: String?

    @Option(help: "From this time: ISO 8601, or an age such as 30s, 10m, 2h, 7d.")
    var since: String?

    @Option(help: "Up to this time: ISO 8601, or an age such as 30s, 10m, 2h, 7d.")
    var until: String?

    func validate() throws {
        if let result, AuditResult(rawValue: result.uppercased()) == nil {
            throw ValidationError("--result must be SUCCESS or FAILURE")
        }
        if let since, TimeSpan.date(since) == nil {
            throw ValidationError("--since: cannot read \(since) as a time or an age")
        }
        if let until, TimeSpan.date(until) == nil {
            throw ValidationError("--until: cannot read \(until) as a time or an age")
        }
    }

    var filter: AuditFilter {
        var filter = AuditFilter()
        filter.subject = subject
        filter.action = action
        filter.actor = actor
        filter.result = result.flatMap { AuditResult(rawValue: $0.uppercased()) }
        filter.since = since.flatMap { TimeSpan.date($0) }
        filter.until = until.flatMap { TimeSpan.date($0) }
        return filter
    }
}
