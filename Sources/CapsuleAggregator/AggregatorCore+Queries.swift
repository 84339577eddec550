import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation

extension AggregatorCore {
    func registerOperations() {
        link.on(AggregatorOps.StatusList.self) { [unowned self] params, respond in
            respond.succeed(try statusPage(params))
        }
        link.on(AggregatorOps.StatusSummaryOp.self) { [unowned self] _, respond in respond.succeed(board.summary) }
        link.on(AggregatorOps.AgentsList.self) { [unowned self] params, respond in
            respond.succeed(try agentsPage(params))
        }
        link.on(AggregatorOps.ServiceShow.self) { [unowned self] params, respond in
            guard let service = board.services[params.code], let row = board.row(params.code, now: now) else {
                throw ErrorBody(
                    .unknownService,
                    "no service named \(SafeText.quoted(params.code, limit: 80)) (see capsulectl status)"
                )
            }
            respond.succeed(
                ServiceDetail(
                    status: row,
                    manifest: service.manifest?.sanitized,
                    healthDetails: Redactor.redact(service.health?.details)
                )
            )
        }
        link.on(AggregatorOps.Stats.self) { [unowned self] _, respond in
            respond.succeed(
                AggregatorStats(
                    received: received,
                    dropped: dropped,
                    agents: board.agents.count,
                    services: board.services.count,
                    undeclared: board.undeclared
                )
            )
        }
        link.on(AggregatorOps.JournalReplay.self) { [unowned self] params, respond in
            let journal = self.journal
            respond.succeed(
                encoded: try store.database.read { db in
                    try journal.pageJSON(db, after: params.after, incarnation: params.incarnation)
                }
            )
        }
        link.on(AggregatorOps.JournalAck.self) { [unowned self] params, respond in
            let journal = self.journal
            let at = now
            batch.add({ db -> AuditEvent? in
                if try journal.acknowledge(db, upTo: params.upTo, incarnation: params.incarnation) { return nil }
                let old = journal.incarnation
                let held = journal.lastSeq
                let fresh = try journal.startNewIncarnation(db)
                return try journal.append(
                    db,
                    AuditEvent(
                        publisher: AggregatorStore.publisher,
                        seq: 0,
                        at: at,
                        action: "journal.incarnation_started",
                        subject: "journal:aggregator",
                        actor: "system",
                        from: old.isEmpty ? "legacy" : old,
                        to: fresh,
                        reason:
                            "the audit writer had seen seq \(params.upTo) but the journal ends at \(held): store restored; new events continue as \(fresh)"
                    )
                )
            }) { [unowned self] outcome in
                switch outcome {
                case .success(let event):
                    if let event { _ = try? publisher.send(factory.event(event)) }
                    respond.succeed(Empty())
                case .failure(let error):
                    respond.fail(ErrorBody(.unavailable, "could not prune the journal: \(error)"))
                }
            }
            batch.commit()
        }
    }

    /// One page of service rows in code order, filtered on the server.
    private func statusPage(_ params: AggregatorOps.StatusList.Params) throws(ErrorBody) -> Page<ServiceStatusRow> {
        let after = try params.cursor.map { cursor throws(ErrorBody) in
            try PageCursor.decode(cursor, query: params.query, count: 1)[0]
        }
        let limit = PageCursor.limit(params.limit)
        let current = now
        var builder = PageBuilder<ServiceStatusRow>(limit: limit) { $0.estimatedSize }
        let candidates: ArraySlice<String>
        if let agent = params.agent {
            let index = board.agentIndex(of: agent, "")
            let byCode =
                index < board.sortedAgents.count && board.sortedAgents[index].code == agent
                ? board.sortedAgents[index].agentId : nil
            let agentId = board.agents[agent] != nil ? agent : byCode
            let codes = (agentId.flatMap { board.agents[$0]?.services } ?? []).sorted()
            candidates = after.map { after in codes.drop { $0 <= after } } ?? codes[...]
        } else {
            // Binary searches and a slice: a page costs what it returns, not the size of the board.
            let codes = board.sortedCodes
            var start = 0
            if let prefix = params.prefix { start = board.sortedIndex(of: prefix) ?? 0 }
            if let after {
                let index = board.sortedIndex(of: after) ?? 0
                start = max(start, index < codes.count && codes[index] == after ? index + 1 : index)
            }
            candidates = codes[min(start, codes.count)...]
        }
        var more = false
        for code in candidates {
            if let prefix = params.prefix, !code.hasPrefix(prefix) {
                if params.agent == nil { break }
                continue
            }
            if let after, code <= after { continue }
            guard let row = board.row(code, now: current) else { continue }
            if let status = params.status, row.status != status.rawValue { continue }
            if !builder.offer(row) {
                more = true
                break
            }
        }
        let next = more ? builder.items.last.map { PageCursor.encode([$0.code], query: params.query) } : nil
        return Page(items: builder.items, next: next)
    }

    private func agentsPage(_ params: AggregatorOps.AgentsList.Params) throws(ErrorBody) -> Page<AgentRow> {
        let query = params.status?.rawValue ?? ""
        var start = 0
        if let cursor = params.cursor {
            let key = try PageCursor.decode(cursor, query: query, count: 2)
            start = board.agentIndex(of: key[0], key[1])
            if start < board.sortedAgents.count,
                board.sortedAgents[start] == StatusBoard.AgentKey(code: key[0], agentId: key[1])
            {
                start += 1
            }
        }
        let limit = PageCursor.limit(params.limit)
        var builder = PageBuilder<AgentRow>(limit: limit) { $0.estimatedSize }
        var more = false
        for key in board.sortedAgents[min(start, board.sortedAgents.count)...] {
            guard let agent = board.agents[key.agentId] else { continue }
            if let status = params.status, agent.status != status { continue }
            let row = AgentRow(
                agentId: agent.agentId,
                code: agent.code,
                status: agent.status.rawValue,
                reason: agent.reason,
                lastHeartbeatAt: agent.lastHeartbeatAt,
                services: agent.services.sorted()
            )
            if !builder.offer(row) {
                more = true
                break
            }
        }
        let next = more ? builder.items.last.map { PageCursor.encode([$0.code, $0.agentId], query: query) } : nil
        return Page(items: builder.items, next: next)
    }
}
