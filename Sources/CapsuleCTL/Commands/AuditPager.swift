import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// Fetches audit records page by page, newest first or (ascending) oldest first.
enum AuditPager {
    static func fetch(
        _ client: CTLClient,
        _ base: AuditFilter,
        limit: Int,
        ascending: Bool,
        afterId: Int64? = nil
    ) throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        var filter = base
        filter.ascending = ascending
        filter.afterId = afterId
        while records.count < limit {
            filter.limit = min(2_000, limit - records.count)
            let page = try client.call(AuditOps.Query.self, filter)
            records += page.records
            if page.complete || page.records.isEmpty { break }
            if ascending { filter.afterId = page.records.last?.id } else { filter.beforeId = page.records.last?.id }
        }
        return records
    }
}
