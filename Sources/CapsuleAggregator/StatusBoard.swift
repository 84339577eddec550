package import CapsuleDomain
package import CapsuleProtocol
package import Foundation

/// The aggregator's fold: reports go in, transitions come out. Pure value type, no sockets, injected time.
///
/// Every cost is bounded by what changed, not by the fleet: a report or heartbeat recomputes one
/// agent; the sweep visits only agents whose next deadline (a stale or offline threshold) has come,
/// kept in a timing wheel of 100 ms slots; counts per status are kept as statuses change; service
/// codes are kept sorted for paging.
package struct StatusBoard: Sendable {
    package private(set) var agents: [String: AgentState] = [:]
    package private(set) var services: [String: ServiceState] = [:]
    package var thresholds: StatusThresholds {
        didSet { if thresholds != oldValue { for agentId in agents.keys { schedule(agentId, atSlot: Int64.min) } } }
    }
    /// Agents and services whose stored state is behind the board (for periodic persistence).
    package private(set) var dirtyAgents: Set<String> = []
    package private(set) var dirtyServices: Set<String> = []
    /// Services whose manifest changed since the last save.
    package private(set) var dirtyManifests: Set<String> = []
    /// Agents and services whose only change since the last save is a heartbeat or health time:
    /// saved as two numbers, not as their whole state (docs/decisions.md, "The board saves what changed").
    package private(set) var agedAgents: Set<String> = []
    package private(set) var agedServices: Set<String> = []
    /// Heartbeat samples for services the agent did not declare (or another agent owns), ignored.
    package private(set) var undeclared = 0

    /// Services one agent may have; samples beyond it are ignored (design §5).
    package static var maxServicesPerAgent: Int { Limits.maxServicesPerAgent }

    /// Service codes in order, for paging.
    package private(set) var sortedCodes: [String] = []
    /// Agents in (code, agentId) order, for paging.
    package struct AgentKey: Sendable, Hashable, Comparable {
        package var code: String
        package var agentId: String
        package static func < (lhs: AgentKey, rhs: AgentKey) -> Bool {
            (lhs.code, lhs.agentId) < (rhs.code, rhs.agentId)
        }
    }
    package private(set) var sortedAgents: [AgentKey] = []
    /// Codes as the broker enrolled them (from its events and agent list), by agentId.
    private var enrolledCodes: [String: String] = [:]
    private var serviceCounts: [EffectiveStatus: Int] = [:]
    private var agentCounts: [AgentStatus: Int] = [:]
    /// Timing wheel: 100 ms slot → agents to recompute then; and each agent's slot, which is the
    /// truth. Rescheduling files the agent under its new slot and leaves the old entry, which the
    /// sweep skips: an agent is filed at most once per slot, so it has at most one entry per 100 ms
    /// of the thresholds ahead of it (a few, at a heartbeat cadence of seconds).
    private var wheel: [Int64: [String]] = [:]
    /// When the aggregator last heard its feed again after losing it: silence before this instant
    /// is the aggregator's blindness, not the agents', so time alone counts from here at the earliest.
    package private(set) var silenceCountsFrom: Date?
    private var slotOf: [String: Int64] = [:]

    package init(thresholds: StatusThresholds, agents: [AgentState] = [], services: [ServiceState] = []) {
        self.thresholds = thresholds
        for var agent in agents {
            // Kept in order from here on (a store saved before they were may hold them as added).
            agent.services.sort()
            agent.declared?.sort()
            self.agents[agent.agentId] = agent
            agentCounts[agent.status, default: 0] += 1
        }
        for service in services {
            self.services[service.code] = service
            if let status = service.status { serviceCounts[status, default: 0] += 1 }
        }
        sortedCodes = self.services.keys.sorted()
        sortedAgents = self.agents.values.map { AgentKey(code: $0.code, agentId: $0.agentId) }.sorted()
        // Everything loaded is due at the first sweep, which then schedules each agent's next deadline.
        for agentId in self.agents.keys { schedule(agentId, atSlot: Int64.min) }
    }

    /// Marks state dirty again after a save that failed.
    package mutating func markDirty(
        agents: some Sequence<String>,
        services: some Sequence<String>,
        manifests: some Sequence<String>
    ) {
        dirtyAgents.formUnion(agents.filter { self.agents[$0] != nil })
        dirtyServices.formUnion(services.filter { self.services[$0] != nil })
        dirtyManifests.formUnion(manifests)
    }

    /// Empties the dirty sets after a save, keeping their capacity: they fill again at the same pace.
    package mutating func clearDirty() {
        dirtyAgents.removeAll(keepingCapacity: true)
        dirtyServices.removeAll(keepingCapacity: true)
        dirtyManifests.removeAll(keepingCapacity: true)
        agedAgents.removeAll(keepingCapacity: true)
        agedServices.removeAll(keepingCapacity: true)
    }

    // MARK: Reports

    /// A heartbeat arrived now.
    package mutating func apply(_ heartbeat: Heartbeat, now: Date) -> [Transition] {
        // One lookup, then the agent's state is changed in place (this runs at every heartbeat).
        let index = ensureAgent(heartbeat.agentId, code: heartbeat.agentCode)
        // A known agent whose heartbeat carries the digest it carried before only aged: its time is
        // all that changes (an unknown one has no digest, so it is saved whole).
        let onlyAged = agents.values[index].heartbeatDigest == heartbeat.manifestDigest
        agents.values[index].lastHeartbeatAt = now
        if !onlyAged { agents.values[index].heartbeatDigest = heartbeat.manifestDigest }
        if onlyAged {
            agedAgents.insert(heartbeat.agentId)
        } else {
            dirtyAgents.insert(heartbeat.agentId)
        }
        applyHealth(heartbeat.services, agentId: heartbeat.agentId, now: now)
        return recompute(agentId: heartbeat.agentId, now: now)
    }

    /// An out-of-cadence health update arrived now.
    package mutating func apply(_ update: HealthUpdate, now: Date) -> [Transition] {
        guard agents[update.agentId] != nil else { return [] }
        applyHealth(update.services, agentId: update.agentId, now: now)
        return recompute(agentId: update.agentId, now: now)
    }

    /// A service report (manifests) arrived now. The broker has already checked that the agent may
    /// claim these codes, so a code moves to this agent if another held it. The report's codes are
    /// the agent's declared services from now on.
    package mutating func apply(_ report: ServiceReport, now: Date) -> [Transition] {
        ensureAgent(report.agentId, code: report.agentCode)
        agents[report.agentId]?.reportedDigest = report.digest
        let manifests = report.services.prefix(Self.maxServicesPerAgent)
        let declared = manifests.map(\.code).sorted()
        agents[report.agentId]?.declared = declared
        // Codes taken provisionally from heartbeats before this report, which the report does not
        // declare, were never this agent's services: they leave the board.
        let declaredSet = Set(declared)
        for code in agents[report.agentId]?.services ?? []
        where !declaredSet.contains(code) && services[code]?.manifest == nil {
            forget(service: code)
        }
        for manifest in manifests {
            _ = ensureService(manifest.code, agentId: report.agentId)
            let sanitized = manifest.sanitized
            if services[manifest.code]?.manifest != sanitized {
                services[manifest.code]?.manifest = sanitized
                dirtyManifests.insert(manifest.code)
            }
            dirtyServices.insert(manifest.code)
        }
        dirtyAgents.insert(report.agentId)
        return recompute(agentId: report.agentId, now: now)
    }

    /// The agent code the broker enrolled this agent under. Codes in heartbeats and reports are the
    /// agent's own claim (the broker does not decode those bodies), so the enrolled one wins.
    package mutating func setEnrolledCode(_ code: String, agentId: String) {
        enrolledCodes[agentId] = code
        guard let agent = agents[agentId], agent.code != code else { return }
        sortedAgents.remove(at: agentIndex(of: agent.code, agentId))
        agents[agentId]?.code = code
        sortedAgents.insert(AgentKey(code: code, agentId: agentId), at: agentIndex(of: code, agentId))
        dirtyAgents.insert(agentId)
    }

    /// The broker changed an agent's administrative state (`nil` re-enables it).
    package mutating func setAdminStatus(_ status: AgentStatus?, agentId: String, now: Date) -> [Transition] {
        guard agents[agentId] != nil else { return [] }
        agents[agentId]?.adminStatus = status
        dirtyAgents.insert(agentId)
        return recompute(agentId: agentId, now: now)
    }

    /// An operator decommissioned a service: it leaves the board.
    package mutating func forget(service code: String) {
        guard let service = services.removeValue(forKey: code) else { return }
        if let status = service.status { serviceCounts[status, default: 1] -= 1 }
        agents[service.agentId]?.services.removeAll { $0 == code }
        agents[service.agentId]?.declared?.removeAll { $0 == code }
        dirtyAgents.insert(service.agentId)
        if let index = sortedIndex(of: code), sortedCodes[index] == code { sortedCodes.remove(at: index) }
        dirtyServices.insert(code)
    }

    /// An operator decommissioned an agent: it and its services leave the board.
    package mutating func forget(agent agentId: String) {
        guard let agent = agents[agentId] else { return }
        for code in agent.services { forget(service: code) }
        agents[agentId] = nil
        agentCounts[agent.status, default: 1] -= 1
        let index = agentIndex(of: agent.code, agentId)
        if index < sortedAgents.count, sortedAgents[index].agentId == agentId { sortedAgents.remove(at: index) }
        unschedule(agentId)
        dirtyAgents.insert(agentId)
    }

    /// Whether the agent's heartbeats name a manifest digest we do not hold: ask it to report again.
    package func needsReport(agentId: String) -> Bool {
        guard let agent = agents[agentId], let digest = agent.heartbeatDigest else { return false }
        return digest != agent.reportedDigest
    }

    // MARK: Time

    /// The feed (the broker's bus) came back at `now` after an outage: no agent's or health
    /// sample's silence counts from before it. Agents that are back heartbeat and are current again;
    /// one that is not back turns STALE and OFFLINE by the thresholds counted from `now`.
    package mutating func feedReturned(at now: Date) {
        silenceCountsFrom = max(silenceCountsFrom ?? now, now)
    }

    /// `date` as the thresholds see it: never before ``silenceCountsFrom``.
    private func heard(_ date: Date?) -> Date? {
        guard let date, let floor = silenceCountsFrom else { return date }
        return max(date, floor)
    }

    /// Re-applies the rule to every agent whose next deadline has come (the sweep), in agentId order.
    package mutating func sweep(now: Date) -> [Transition] {
        let current = Self.slot(now)
        let dueSlots = wheel.keys.filter { $0 <= current }
        guard !dueSlots.isEmpty else { return [] }
        var due: [String] = []
        for slot in dueSlots {
            // An agent rescheduled since it was filed here is skipped: its slot is elsewhere now.
            for agentId in wheel.removeValue(forKey: slot) ?? [] where slotOf[agentId] == slot {
                slotOf[agentId] = nil
                due.append(agentId)
            }
        }
        return due.sorted().flatMap { recompute(agentId: $0, now: now) }
    }

    // MARK: Queries

    /// Services per effectiveStatus and agents per status, every status present.
    package var summary: StatusSummary {
        StatusSummary(
            services: Dictionary(
                uniqueKeysWithValues: EffectiveStatus.allCases.map { ($0.rawValue, serviceCounts[$0] ?? 0) }
            ),
            agents: Dictionary(uniqueKeysWithValues: AgentStatus.allCases.map { ($0.rawValue, agentCounts[$0] ?? 0) }),
            totalServices: services.count,
            totalAgents: agents.count
        )
    }

    /// The index of the first sorted code that is not below `code`.
    package func sortedIndex(of code: String) -> Int? {
        Self.lowerBound(of: code, in: sortedCodes)
    }

    /// The index of the first agent key not below `(code, agentId)`.
    package func agentIndex(of code: String, _ agentId: String) -> Int {
        Self.lowerBound(of: AgentKey(code: code, agentId: agentId), in: sortedAgents)
    }

    /// The index of the first element of the sorted `elements` not below `value`.
    private static func lowerBound<T: Comparable>(of value: T, in elements: [T]) -> Int {
        var low = 0
        var high = elements.count
        while low < high {
            let middle = (low + high) / 2
            if elements[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// A service's status row at `now`; the reason is recomputed, so a silence reads its current length.
    package func row(_ code: String, now: Date) -> ServiceStatusRow? {
        guard let service = services[code] else { return nil }
        let agent = agents[service.agentId]
        var reason = service.reason
        if let agent {
            let verdict = EffectiveStatusRule.evaluate(input(agent, service), now: now, thresholds: thresholds)
            if verdict.status == service.status { reason = verdict.reason }
        }
        return ServiceStatusRow(
            code: code,
            name: service.manifest?.name,
            status: (service.status ?? .unknown).rawValue,
            reason: reason,
            healthStatus: service.health?.status.rawValue,
            healthMessage: service.health?.message,
            healthAt: service.healthAt,
            agentId: service.agentId,
            agentCode: agent?.code,
            agentStatus: agent?.status.rawValue,
            lastHeartbeatAt: agent?.lastHeartbeatAt,
            changedAt: service.changedAt
        )
    }

    // MARK: Folding

    /// The agent's index in ``agents``, after adding it if it is new.
    @discardableResult
    private mutating func ensureAgent(_ agentId: String, code claimed: String) -> Dictionary<String, AgentState>.Index {
        if let index = agents.index(forKey: agentId) { return index }
        let code = enrolledCodes[agentId] ?? claimed
        agents[agentId] = AgentState(
            agentId: agentId,
            code: code,
            lastHeartbeatAt: nil,
            status: .pending,
            reason: "no heartbeat yet",
            services: []
        )
        agentCounts[.pending, default: 0] += 1
        sortedAgents.insert(AgentKey(code: code, agentId: agentId), at: agentIndex(of: code, agentId))
        // Just inserted.
        return agents.index(forKey: agentId)!
    }

    /// The service's index in ``services``, after adding it or moving it to this agent.
    private mutating func ensureService(_ code: String, agentId: String) -> Dictionary<String, ServiceState>.Index {
        if services[code] == nil {
            services[code] = ServiceState(code: code, agentId: agentId, reason: "")
            let index = sortedIndex(of: code) ?? sortedCodes.count
            sortedCodes.insert(code, at: index)
        }
        if let previous = services[code]?.agentId, previous != agentId {
            // The service moved (a report the broker accepted): its former agent no longer answers for it.
            agents[previous]?.services.removeAll { $0 == code }
            agents[previous]?.declared?.removeAll { $0 == code }
            dirtyAgents.insert(previous)
        }
        services[code]?.agentId = agentId
        if let codes = agents[agentId]?.services, !codes.contains(code) {
            // Kept in order, so each recompute walks them without sorting.
            agents[agentId]?.services.insert(code, at: Self.lowerBound(of: code, in: codes))
        }
        // Present: added above if it was not.
        return services.index(forKey: code)!
    }

    /// Takes the health samples of services this agent may speak for: those its report declared, or,
    /// before any report, codes no other agent holds, up to ``maxServicesPerAgent``.
    private mutating func applyHealth(_ samples: [ServiceHealth], agentId: String, now: Date) {
        guard let agentIndex = agents.index(forKey: agentId) else { return }
        let agent = agents.values[agentIndex]
        for sample in samples {
            let existing = services.index(forKey: sample.code)
            let before = existing.map { services.values[$0] }
            let owner = before?.agentId
            if let declared = agent.declared {
                guard Self.contains(sample.code, in: declared) else {
                    undeclared += 1
                    continue
                }
            } else {
                guard owner == nil || owner == agentId else {
                    undeclared += 1
                    continue
                }
                guard owner == agentId || (agents[agentId]?.services.count ?? 0) < Self.maxServicesPerAgent,
                    Identifier.isValid(sample.code)
                else {
                    undeclared += 1
                    continue
                }
            }
            let health = HealthReport(
                status: sample.health.status,
                message: sample.health.message.map { SafeText.clean($0, limit: 1_024) },
                details: sample.health.details.map { SafeText.clean(Redactor.redact($0)) }
            )
            // Only aged when the service was this agent's already and its health reads the same:
            // then the times are all that change.
            let onlyAged = owner == agentId && before?.health == health
            let index =
                if let existing, owner == agentId, agent.services.contains(sample.code) {
                    existing
                } else {
                    ensureService(sample.code, agentId: agentId)
                }
            if !onlyAged { services.values[index].health = health }
            services.values[index].healthAt = now
            services.values[index].sampledAt = sample.sampledAt
            if onlyAged {
                agedServices.insert(sample.code)
            } else {
                dirtyServices.insert(sample.code)
            }
        }
    }

    /// Whether the sorted `elements` hold `value` (a binary search: an agent may declare many services).
    private static func contains<T: Comparable>(_ value: T, in elements: [T]) -> Bool {
        let index = lowerBound(of: value, in: elements)
        return index < elements.count && elements[index] == value
    }

    private func input(_ agent: AgentState, _ service: ServiceState) -> StatusInput {
        StatusInput(
            agentAdminStatus: agent.adminStatus,
            lastHeartbeatAt: heard(agent.lastHeartbeatAt),
            health: service.health?.status,
            healthAt: heard(service.healthAt)
        )
    }

    /// Re-applies the rule to one agent and its services, in place, and files the agent in the
    /// timing wheel at its next deadline.
    private mutating func recompute(agentId: String, now: Date) -> [Transition] {
        guard let agentIndex = agents.index(forKey: agentId) else { return [] }
        var transitions: [Transition] = []
        // Read once: each read through `values[index]` copies the whole state; writes are in place.
        let agent = agents.values[agentIndex]
        let agentHeard = heard(agent.lastHeartbeatAt)
        let adminStatus = agent.adminStatus
        let verdict = EffectiveStatusRule.agentStatus(
            adminStatus: adminStatus,
            lastHeartbeatAt: agentHeard,
            now: now,
            thresholds: thresholds
        )
        let previous = agent.status
        if verdict.status != previous {
            transitions.append(
                Transition(
                    kind: .agent,
                    subject: "agent:\(agentId)",
                    from: previous.rawValue,
                    to: verdict.status.rawValue,
                    reason: verdict.reason,
                    at: now
                )
            )
            agentCounts[previous, default: 1] -= 1
            agentCounts[verdict.status, default: 0] += 1
            agents.values[agentIndex].status = verdict.status
            agents.values[agentIndex].changedAt = now
            dirtyAgents.insert(agentId)
        }
        if agent.reason != verdict.reason {
            agents.values[agentIndex].reason = verdict.reason
            dirtyAgents.insert(agentId)
        }
        // The next instant at which time alone could change this agent's or one of its services'
        // status: the heartbeat or a health sample crossing the stale threshold, or the heartbeat
        // crossing the offline threshold. Found while walking the services, without gathering them.
        var next: Date?
        func consider(_ candidate: Date) {
            if candidate > now, next.map({ candidate < $0 }) ?? true { next = candidate }
        }
        if let agentHeard {
            // Stale is strictly after the threshold, offline at it.
            consider(agentHeard.addingTimeInterval(thresholds.staleSeconds + 0.001))
            consider(agentHeard.addingTimeInterval(thresholds.offlineSeconds))
        }
        // In order: the board keeps each agent's services sorted.
        for code in agent.services {
            guard let index = services.index(forKey: code) else { continue }
            let service = services.values[index]
            let input = input(agent, service)
            if let healthAt = input.healthAt { consider(healthAt.addingTimeInterval(thresholds.staleSeconds + 0.001)) }
            let result = EffectiveStatusRule.evaluate(input, now: now, thresholds: thresholds)
            let before = service.status
            if result.status != before {
                transitions.append(
                    Transition(
                        kind: .service,
                        subject: "service:\(code)",
                        from: before?.rawValue,
                        to: result.status.rawValue,
                        reason: result.reason,
                        at: now
                    )
                )
                if let before { serviceCounts[before, default: 1] -= 1 }
                serviceCounts[result.status, default: 0] += 1
                services.values[index].status = result.status
                services.values[index].changedAt = now
                dirtyServices.insert(code)
            }
            if service.reason != result.reason {
                services.values[index].reason = result.reason
                dirtyServices.insert(code)
            }
        }
        if adminStatus == nil, let next {
            schedule(agentId, atSlot: Self.slot(next, roundingUp: true))
        } else {
            unschedule(agentId)
        }
        return transitions
    }

    private mutating func schedule(_ agentId: String, atSlot slot: Int64) {
        guard slotOf.updateValue(slot, forKey: agentId) != slot else { return }
        wheel[slot, default: []].append(agentId)
    }

    private mutating func unschedule(_ agentId: String) {
        slotOf[agentId] = nil
    }

    /// A 100 ms slot of the timing wheel.
    private static func slot(_ date: Date, roundingUp: Bool = false) -> Int64 {
        let tenths = date.timeIntervalSince1970 * 10
        return Int64(roundingUp ? tenths.rounded(.up) : tenths.rounded(.down))
    }
}
