import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

@testable import CapsuleBroker

/// One way `command.create` is refused, and what it must say.
struct CreateRefusal: Sendable, CustomTestStringConvertible {
    var name: String
    var service: ServiceManifest? = Book.service
    var action: String
    var payload: JSONValue? = nil
    var confirm: Bool? = nil
    var requireOnline: Bool? = nil
    var agent: AgentView = Book.online
    var code: ErrorBody.Code
    /// Text the message must contain.
    var says: String

    var testDescription: String { name }
}

struct CommandBookCreateTests {
    static let disabled = AgentView(state: .disabled, routable: true, presence: "ONLINE")
    static let revoked = AgentView(state: .revoked, routable: false, presence: "OFFLINE")
    static let stale = AgentView(state: .active, routable: true, presence: "STALE")
    static let tooMany: JSONValue = .object(["replicas": .number(11)])

    /// Each refusal, and refusals that race: the earlier check in the documented order wins.
    static let refusals: [CreateRefusal] = [
        .init(
            name: "unknown service",
            service: nil,
            action: "flush",
            code: .unknownService,
            says: "no service named \"billing\""
        ),
        .init(
            name: "unknown service wins over everything",
            service: nil,
            action: "nope",
            agent: revoked,
            code: .unknownService,
            says: "no service named"
        ),
        .init(
            name: "unknown action lists the declared ones",
            action: "reboot",
            code: .unknownAction,
            says: "actions: flush, scale, drop-db, rotate-key, quick"
        ),
        .init(
            name: "unknown action wins over a disabled agent",
            action: "reboot",
            agent: disabled,
            code: .unknownAction,
            says: "no action \"reboot\""
        ),
        .init(
            name: "disabled agent",
            action: "flush",
            agent: disabled,
            code: .agentDisabled,
            says: "capsulectl agent enable"
        ),
        .init(
            name: "disabled agent wins over confirmation",
            action: "drop-db",
            agent: disabled,
            code: .agentDisabled,
            says: "is disabled"
        ),
        .init(
            name: "revoked agent",
            action: "flush",
            agent: revoked,
            code: .agentRevoked,
            says: "no command can reach it"
        ),
        .init(
            name: "revoked agent wins over a bad payload",
            action: "scale",
            payload: tooMany,
            agent: revoked,
            code: .agentRevoked,
            says: "is revoked"
        ),
        .init(
            name: "confirmation missing",
            action: "drop-db",
            code: .confirmationRequired,
            says: "CRITICAL and requires --confirm"
        ),
        .init(
            name: "confirm false is no confirmation",
            action: "drop-db",
            confirm: false,
            code: .confirmationRequired,
            says: "requires --confirm"
        ),
        .init(
            name: "schema names the failing path",
            action: "scale",
            payload: tooMany,
            code: .invalidPayload,
            says: "$.replicas: must be <= 10"
        ),
        .init(
            name: "default payload {} still meets the schema",
            action: "scale",
            code: .invalidPayload,
            says: "$.replicas: is required"
        ),
        .init(
            name: "schema wins over requireOnline",
            action: "scale",
            payload: tooMany,
            requireOnline: true,
            agent: Book.away,
            code: .invalidPayload,
            says: "$.replicas"
        ),
        .init(
            name: "requireOnline with an unroutable agent",
            action: "flush",
            requireOnline: true,
            agent: Book.away,
            code: .agentOffline,
            says: "is not connected; nothing was created"
        ),
        .init(
            name: "requireOnline with a STALE agent",
            action: "flush",
            requireOnline: true,
            agent: stale,
            code: .agentOffline,
            says: "is STALE"
        ),
        .init(
            name: "requireOnline with a routable agent not yet heard from",
            action: "flush",
            requireOnline: true,
            agent: AgentView(state: .active, routable: true, presence: "PENDING"),
            code: .agentOffline,
            says: "is PENDING"
        ),
    ]

    @Test(arguments: refusals)
    func refusalsComeInOrderAndCreateNothing(_ row: CreateRefusal) {
        var book = CommandBook()
        let outcome = Book.create(
            &book,
            "cmd_1",
            row.action,
            payload: row.payload,
            confirm: row.confirm,
            requireOnline: row.requireOnline,
            agent: row.agent,
            service: row.service
        )
        guard case .failure(let error) = outcome else {
            Issue.record("created a command that should be refused with \(row.code)")
            return
        }
        #expect(error.code == row.code)
        #expect(error.message.contains(row.says), "\(error.message)")
        #expect(book.liveCount == 0)
        #expect(book.agentReady(Book.agentId, agent: Book.online, now: Book.t0).isEmpty)
    }

    @Test func confirmedDangerousActionAndRequireOnlineWithAnOnlineAgentAreCreated() throws {
        var book = CommandBook()
        guard case .success = Book.create(&book, "cmd_1", "drop-db", confirm: true) else {
            throw Failure("confirmed drop-db refused")
        }
        guard case .success = Book.create(&book, "cmd_2", "flush", requireOnline: true) else {
            throw Failure("requireOnline refused")
        }
        #expect(book.liveCount == 2)
    }

    @Test func aRoutableAgentGetsTheCreateFirstThenTheDispatchWithTheRawPayload() throws {
        var book = CommandBook()
        let payload: JSONValue = .object(["replicas": .number(3), "password": .string("hunter2")])
        guard case .success(let (record, effects)) = Book.create(&book, "cmd_1", "scale", payload: payload, at: 5)
        else {
            throw Failure("refused")
        }
        #expect(effects.kinds == ["create", "dispatch"])
        let create = try #require(effects.creates.first)
        #expect(create.record.status == .pending)
        #expect(create.record.deliveries == 1)
        #expect(create.record.payload == .object(["replicas": .number(3), "password": .string(Redactor.placeholder)]))
        #expect(create.raw == payload, "the raw payload is what gets sealed and sent")
        #expect(create.event.action == "command.created")
        #expect(create.event.subject == "command:cmd_1")
        #expect(create.event.actor == "operator:alice")
        #expect(create.event.to == "PENDING")
        #expect(create.event.details?["payload"]?["password"] == .string(Redactor.placeholder))
        let dispatch = try #require(effects.dispatches.first)
        #expect(dispatch.agentId == Book.agentId)
        #expect(
            dispatch.body
                == CommandDispatch(
                    commandId: "cmd_1",
                    serviceCode: "billing",
                    action: "scale",
                    payload: payload,
                    expiresAt: Book.at(5 + Book.defaultTTL)
                )
        )
        #expect(record.queued == nil)
        #expect(record.expiresAt == Book.at(5 + Book.defaultTTL))
        #expect(book.live["cmd_1"]?.raw == payload)
    }

    @Test func anActionTimeoutReplacesTheDefaultTTL() throws {
        var book = CommandBook()
        let record = Book.created(&book, "cmd_1", "quick", at: 1)
        #expect(record.expiresAt == Book.at(11))
    }

    @Test func anUnroutableAgentGetsOnlyTheCreateAndNoDelivery() throws {
        var book = CommandBook()
        guard case .success(let (record, effects)) = Book.create(&book, "cmd_1", agent: Book.away) else {
            throw Failure("refused")
        }
        #expect(effects.kinds == ["create"])
        #expect(effects.creates.first?.record.deliveries == 0)
        #expect(record.deliveries == 0)
        #expect(book.liveCount == 1)
    }

    @Test(
        arguments: [
            (AgentView(state: .active, routable: false, presence: "PENDING"), "agent not connected", false),
            (AgentView(state: .active, routable: false, presence: "OFFLINE"), "agent OFFLINE", false),
            (AgentView(state: .active, routable: false, presence: "STALE"), "agent STALE", false),
            (AgentView(state: .active, routable: true, presence: "STALE"), "agent STALE", true),
            (AgentView(state: .active, routable: true, presence: "OFFLINE"), "agent OFFLINE", true),
            (AgentView(state: .active, routable: true, presence: "ONLINE"), nil, true),
            (AgentView(state: .active, routable: true, presence: "PENDING"), nil, true),
        ] as [(AgentView, String?, Bool)]
    )
    func theReplySaysWhyACommandIsQueued(agent: AgentView, queued: String?, dispatched: Bool) throws {
        var book = CommandBook()
        guard case .success(let (record, effects)) = Book.create(&book, "cmd_1", agent: agent) else {
            throw Failure("refused")
        }
        #expect(record.queued == queued)
        #expect(effects.creates.first?.record.queued == nil, "queued is for the reply, never stored")
        #expect(effects.dispatches.count == (dispatched ? 1 : 0))
    }
}

struct CommandBookDeliveryTests {
    @Test func agentReadyPushesLiveCommandsOldestFirstAndCountsDeliveries() {
        var book = CommandBook()
        Book.created(&book, "cmd_a", agent: Book.away, at: 0)
        Book.created(&book, "cmd_b", agent: Book.away, at: 1)
        Book.created(&book, "cmd_c", agent: Book.away, at: 2)
        Book.created(&book, "cmd_other", agent: Book.away, agentId: Book.otherAgent, at: 3)

        let first = book.agentReady(Book.agentId, agent: Book.online, now: Book.at(10))
        #expect(first.kinds == ["dispatch", "dispatch", "dispatch"])
        #expect(first.dispatches.map(\.body.commandId) == ["cmd_a", "cmd_b", "cmd_c"])
        #expect(first.dispatches.allSatisfy { $0.agentId == Book.agentId })
        #expect(book.live["cmd_a"]?.record.deliveries == 1)

        let second = book.agentReady(Book.agentId, agent: Book.online, now: Book.at(20))
        #expect(second.dispatches.map(\.body.commandId) == ["cmd_a", "cmd_b", "cmd_c"])
        #expect(book.live["cmd_b"]?.record.deliveries == 2)
        #expect(book.live["cmd_other"]?.record.deliveries == 0)
    }

    @Test func expiredCommandsAreNotPushed() {
        var book = CommandBook()
        Book.created(&book, "cmd_quick", "quick", agent: Book.away, at: 0)  // expires at 10
        Book.created(&book, "cmd_slow", agent: Book.away, at: 0)  // expires at 300
        let effects = book.agentReady(Book.agentId, agent: Book.online, now: Book.at(10))
        #expect(effects.dispatches.map(\.body.commandId) == ["cmd_slow"])
        #expect(book.live["cmd_quick"]?.record.deliveries == 0)
    }

    @Test(arguments: [
        AgentView(state: .disabled, routable: true, presence: "ONLINE"),
        AgentView(state: .revoked, routable: true, presence: "ONLINE"),
        AgentView(state: .active, routable: false, presence: "ONLINE"),
    ])
    func aDisabledRevokedOrUnroutableAgentGetsNothing(agent: AgentView) {
        var book = CommandBook()
        Book.created(&book, "cmd_a", agent: Book.away)
        #expect(book.agentReady(Book.agentId, agent: agent, now: Book.at(1)).isEmpty)
        #expect(book.live["cmd_a"]?.record.deliveries == 0)
    }

    @Test func anAgentWithoutCommandsGetsNothing() {
        var book = CommandBook()
        #expect(book.agentReady("agt_nobody", agent: Book.online, now: Book.t0).isEmpty)
    }

    @Test func anUndeliveredDispatchDoesNotCount() {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        #expect(book.live["cmd_a"]?.record.deliveries == 1)
        book.undelivered("cmd_a")
        #expect(book.live["cmd_a"]?.record.deliveries == 0)
        book.undelivered("cmd_a")
        #expect(book.live["cmd_a"]?.record.deliveries == 0, "never below zero")
    }
}

struct CommandBookAcknowledgeTests {
    @Test func anAckMovesPendingToRunningWithStartedAt() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let effects = book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(2), lookup: Book.nothingStored)
        #expect(effects.kinds == ["change"])
        let change = try #require(effects.changes.first)
        #expect(change.record.status == .running)
        #expect(change.record.startedAt == Book.at(2))
        #expect(change.record.updatedAt == Book.at(2))
        #expect(change.previous?.record.status == .pending)
        #expect(change.event.action == "command.running")
        #expect(change.event.from == "PENDING" && change.event.to == "RUNNING")
        #expect(change.event.actor == "agent:\(Book.agentId)")
        #expect(change.event.result == .success)
        #expect(change.event.details?["startedAt"] == .number(Book.at(2).timeIntervalSince1970 * 1000))
        #expect(change.event.details?["completedAt"] == nil)
        #expect(book.live["cmd_a"]?.record.status == .running)
    }

    @Test func aSecondAckOfARunningCommandChangesNothing() {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        _ = book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(2), lookup: Book.nothingStored)
        let again = book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(3), lookup: Book.nothingStored)
        #expect(again.isEmpty)
        #expect(book.live["cmd_a"]?.record.startedAt == Book.at(2))
    }

    @Test(arguments: [CommandStatus.succeeded, .failed, .expired, .cancelled])
    func anAckOfATerminalCommandIsAuditedAsRejectedWithoutReply(status: CommandStatus) throws {
        var book = CommandBook()
        let effects = book.acknowledge("cmd_done", from: Book.agentId, now: Book.at(1)) { id in Book.stored(id, status)
        }
        // Through the refusal ledger: an agent repeating it adds no rows.
        #expect(effects.kinds == ["refusal"])
        let (refusal, agentId) = try #require(effects.refusals.first)
        #expect(agentId == Book.agentId)
        #expect(refusal.action == "command.rejected")
        #expect(refusal.subject == "command:cmd_done")
        #expect(refusal.from == status.rawValue)
        #expect(refusal.reason == "command is already \(status.rawValue)")
        #expect(refusal.details["event"] == .string("acknowledged"))
    }

    @Test func anAckOfAnUnknownCommandDoesNothing() {
        var book = CommandBook()
        #expect(book.acknowledge("cmd_x", from: Book.agentId, now: Book.t0, lookup: Book.nothingStored).isEmpty)
    }

    @Test func anAckFromAnotherAgentIsRejectedAndChangesNothing() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let effects = book.acknowledge("cmd_a", from: Book.otherAgent, now: Book.at(1), lookup: Book.nothingStored)
        #expect(effects.kinds == ["refusal"])
        let refusal = try #require(effects.refusals.first?.refusal)
        #expect(refusal.action == "command.rejected")
        #expect(refusal.actor == "agent:\(Book.otherAgent)")
        #expect(refusal.reason.contains("does not own this command"))
        #expect(book.live["cmd_a"]?.record.status == .pending)
    }
}

struct CommandBookCompleteTests {
    static func result(
        _ id: String,
        success: Bool = true,
        message: String? = nil,
        data: JSONValue? = nil,
        error: ErrorBody? = nil
    ) -> CommandResult {
        CommandResult(commandId: id, success: success, message: message, data: data, error: error)
    }

    static func complete(
        _ book: inout CommandBook,
        _ result: CommandResult,
        from agentId: String = Book.agentId,
        bytes: Int = 100,
        at seconds: Double = 4,
        lookup: (String) -> CommandRecord? = Book.nothingStored
    ) -> [CommandBook.Effect] {
        book.complete(
            result,
            from: agentId,
            route: Book.route,
            corr: "res-1",
            bodyBytes: bytes,
            now: Book.at(seconds),
            lookup: lookup
        )
    }

    @Test func aSuccessfulResultEndsSucceededWithTimesInTheEvent() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a", at: 1)
        _ = book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(2), lookup: Book.nothingStored)
        let effects = Self.complete(
            &book,
            Self.result("cmd_a", message: "flushed", data: .object(["n": .number(3)])),
            at: 4
        )
        #expect(effects.kinds == ["change"])
        let change = try #require(effects.changes.first)
        #expect(change.record.status == .succeeded)
        #expect(change.record.success == true)
        #expect(change.record.message == "flushed")
        #expect(change.record.data == .object(["n": .number(3)]))
        #expect(change.record.completedAt == Book.at(4))
        #expect(change.record.durationMs == 3_000)
        #expect(change.previous?.record.status == .running)
        #expect(change.oneTime == nil)
        let event = change.event
        #expect(event.action == "command.succeeded")
        #expect(event.from == "RUNNING" && event.to == "SUCCEEDED")
        #expect(event.result == .success)
        #expect(event.reason == "flushed")
        #expect(event.details?["startedAt"] == .number(Book.at(2).timeIntervalSince1970 * 1000))
        #expect(event.details?["completedAt"] == .number(Book.at(4).timeIntervalSince1970 * 1000))
        #expect(event.details?["durationMs"] == .number(3_000))
        #expect(event.details?["deliveries"] == .number(1))
        #expect(book.live["cmd_a"] == nil, "terminal commands leave the book")
    }

    @Test func aResultWithoutAnAckEndsFromPending() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let change = try #require(Self.complete(&book, Self.result("cmd_a")).changes.first)
        #expect(change.event.from == "PENDING")
        #expect(change.record.startedAt == nil)
        #expect(change.event.details?["startedAt"] == nil)
    }

    @Test func aFailedResultKeepsTheAgentsErrorAndFailsTheEvent() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let effects = Self.complete(
            &book,
            Self.result("cmd_a", success: false, error: ErrorBody("demo_failure", "disk full"))
        )
        let change = try #require(effects.changes.first)
        #expect(change.record.status == .failed)
        #expect(change.record.success == false)
        #expect(change.record.errorCode == "demo_failure")
        #expect(change.record.errorMessage == "disk full")
        #expect(change.event.action == "command.failed")
        #expect(change.event.result == .failure)
        #expect(change.event.reason == "disk full")
        #expect(change.event.details?["errorCode"] == .string("demo_failure"))
    }

    @Test func aResultOverTheCapFailsResultTooLargeAndTellsTheAgent() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let bytes = CommandBook.maxResultBytes + 1
        let effects = Self.complete(
            &book,
            Self.result("cmd_a", message: "done", data: .object(["big": .string("x")])),
            bytes: bytes
        )
        #expect(effects.kinds == ["change", "agentError"])
        let change = try #require(effects.changes.first)
        #expect(change.record.status == .failed)
        #expect(change.record.errorCode == "result_too_large")
        #expect(change.record.errorMessage?.contains("\(bytes) bytes") == true)
        #expect(change.record.data == nil && change.record.message == nil, "nothing of a refused result is kept")
        let error = try #require(effects.agentErrors.first)
        #expect(error.route == Book.route)
        #expect(error.corr == "res-1")
        #expect(error.error.code == .oversized)
        #expect(error.error.message.hasPrefix("cmd_a: "))
    }

    @Test func aResultExactlyAtTheCapIsTaken() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let effects = Self.complete(&book, Self.result("cmd_a"), bytes: CommandBook.maxResultBytes)
        #expect(effects.kinds == ["change"])
        #expect(effects.changes.first?.record.status == .succeeded)
    }

    @Test func aLongMessageIsCutAtTheCapWithAMarker() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let long = String(repeating: "a", count: CommandBook.maxMessageBytes + 904)
        let change = try #require(Self.complete(&book, Self.result("cmd_a", message: long)).changes.first)
        let message = try #require(change.record.message)
        #expect(message.utf8.count <= CommandBook.maxMessageBytes)
        let kept = message.prefix { $0 == "a" }.count
        #expect(kept > CommandBook.maxMessageBytes - 32, "only the marker's room is given up")
        #expect(message.hasSuffix("…[cut \(long.utf8.count - kept) bytes]"))
    }

    @Test func controlCharactersInTheMessageAreEscaped() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let change = try #require(
            Self.complete(&book, Self.result("cmd_a", message: "ok\nFAKE LOG LINE")).changes.first
        )
        #expect(change.record.message == "ok\\nFAKE LOG LINE")
    }

    @Test func resultDataIsRedacted() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let data: JSONValue = .object([
            "password": .string("hunter2"), "nested": .object(["accessToken": .string("t")]), "n": .number(1),
        ])
        let change = try #require(Self.complete(&book, Self.result("cmd_a", data: data)).changes.first)
        #expect(
            change.record.data
                == .object([
                    "password": .string(Redactor.placeholder),
                    "nested": .object(["accessToken": .string(Redactor.placeholder)]), "n": .number(1),
                ])
        )
        #expect(change.event.details?["data"]?["password"] == .string(Redactor.placeholder))
    }

    @Test func oneTimeFieldsAreTakenFromTheRawResultAndPlaceholdersStay() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a", "rotate-key")
        let data: JSONValue = .object([
            "apiKey": .string("sk-live-123"), "pin": .string("pin-7731"), "note": .string("rotated"),
        ])
        let change = try #require(Self.complete(&book, Self.result("cmd_a", data: data)).changes.first)
        // apiKey is also secret-looking, so redaction alone would have hidden it: the raw value is kept.
        #expect(change.oneTime == .object(["apiKey": .string("sk-live-123"), "pin": .string("pin-7731")]))
        let placeholder = JSONValue.string(CommandBook.oneTimePlaceholder)
        #expect(change.record.data == .object(["apiKey": placeholder, "pin": placeholder, "note": .string("rotated")]))
        // The event shows neither value (its own redaction may hide the placeholder of a secret-looking key).
        #expect(change.event.details?["data"]?["pin"] == placeholder)
        #expect(change.event.details?["data"]?["note"] == .string("rotated"))
        #expect(!change.event.details!.compactText.contains("sk-live-123"))
        #expect(!change.event.details!.compactText.contains("pin-7731"))
    }

    @Test func onlyOneTimeFieldsThatArePresentAreTaken() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a", "rotate-key")
        Book.created(&book, "cmd_b", "rotate-key")
        let some = try #require(
            Self.complete(&book, Self.result("cmd_a", data: .object(["pin": .string("1")]))).changes.first
        )
        #expect(some.oneTime == .object(["pin": .string("1")]))
        let none = try #require(
            Self.complete(&book, Self.result("cmd_b", data: .object(["note": .string("n")]))).changes.first
        )
        #expect(none.oneTime == nil)
        #expect(none.record.data == .object(["note": .string("n")]))
    }

    @Test func anActionWithoutOneTimeFieldsKeepsNothingAside() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let change = try #require(
            Self.complete(&book, Self.result("cmd_a", data: .object(["pin": .string("1")]))).changes.first
        )
        #expect(change.oneTime == nil)
        #expect(change.record.data == .object(["pin": .string("1")]))
    }

    @Test(arguments: [CommandStatus.succeeded, .failed, .expired, .cancelled])
    func aResultForATerminalCommandIsRefusedAndJournalled(status: CommandStatus) throws {
        var book = CommandBook()
        let effects = Self.complete(&book, Self.result("cmd_done")) { id in Book.stored(id, status) }
        #expect(effects.kinds == ["refusal", "agentError"])
        let refusal = try #require(effects.refusals.first?.refusal)
        #expect(refusal.action == "command.rejected")
        #expect(refusal.details["event"] == .string("result"))
        let error = try #require(effects.agentErrors.first)
        #expect(error.error.code == .commandTerminal)
        #expect(error.error.message == "cmd_done: command is already \(status.rawValue)")
        #expect(error.corr == "res-1")
    }

    @Test func aResultForAnUnknownCommandIsAnsweredUnknownCommand() throws {
        var book = CommandBook()
        let effects = Self.complete(&book, Self.result("cmd_ghost"))
        #expect(effects.kinds == ["agentError"])
        let error = try #require(effects.agentErrors.first)
        #expect(error.error.code == .unknownCommand)
        #expect(error.error.message.hasPrefix("cmd_ghost: "))
        #expect(error.error.message.contains("unknown command"))
    }

    @Test func aResultFromAnotherAgentIsRefusedAsUnknownAndTheCommandStaysLive() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let effects = Self.complete(&book, Self.result("cmd_a"), from: Book.otherAgent)
        #expect(effects.kinds == ["refusal", "agentError"])
        #expect(effects.refusals.first?.refusal.actor == "agent:\(Book.otherAgent)")
        // The same answer as for a command that does not exist.
        #expect(effects.agentErrors.first?.error.code == .unknownCommand)
        #expect(book.live["cmd_a"]?.record.status == .pending)
    }

    @Test func aResultForAnotherAgentsFinishedCommandIsRefusedAsUnknown() throws {
        var book = CommandBook()
        let effects = Self.complete(&book, Self.result("cmd_done"), from: Book.otherAgent) { id in
            Book.stored(id, .succeeded)
        }
        #expect(effects.kinds == ["refusal", "agentError"])
        #expect(effects.agentErrors.first?.error.code == .unknownCommand)
    }
}

struct CommandBookCancelTests {
    @Test func cancellingALiveCommandEndsItAndTellsARoutableAgent() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let (outcome, effects) = book.cancel(
            "cmd_a",
            actor: "operator:bob",
            agent: Book.online,
            now: Book.at(3),
            lookup: Book.nothingStored
        )
        let record = try outcome.get()
        #expect(record.status == .cancelled)
        #expect(record.completedAt == Book.at(3))
        #expect(effects.kinds == ["change", "cancel"])
        let change = try #require(effects.changes.first)
        #expect(change.event.action == "command.cancelled")
        #expect(change.event.actor == "operator:bob")
        #expect(change.event.reason == "cancelled by operator:bob")
        #expect(change.event.details?["durationMs"] == .number(3_000))
        let cancel = try #require(effects.cancels.first)
        #expect(cancel.agentId == Book.agentId)
        #expect(cancel.ref == CommandRef(commandId: "cmd_a", reason: "cancelled by operator:bob"))
        #expect(book.live["cmd_a"] == nil)
    }

    @Test func cancellingForAnUnroutableAgentSendsNothing() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a", agent: Book.away)
        let (outcome, effects) = book.cancel(
            "cmd_a",
            actor: "operator:bob",
            agent: Book.away,
            now: Book.at(3),
            lookup: Book.nothingStored
        )
        #expect(try outcome.get().status == .cancelled)
        #expect(effects.kinds == ["change"])
    }

    @Test func cancellingATerminalCommandIsRefusedAndJournalled() throws {
        var book = CommandBook()
        let (outcome, effects) = book.cancel("cmd_done", actor: "operator:bob", agent: Book.online, now: Book.at(3)) {
            id in
            Book.stored(id, .succeeded)
        }
        #expect(throws: ErrorBody(.notCancellable, "command is already SUCCEEDED")) { try outcome.get() }
        #expect(effects.kinds == ["journal"])
        #expect(effects.journals.first?.action == "command.rejected")
        #expect(effects.journals.first?.details?["event"] == .string("cancelled"))
    }

    @Test func cancellingAnUnknownCommandIsRefusedSilently() {
        var book = CommandBook()
        let (outcome, effects) = book.cancel(
            "cmd_x",
            actor: "operator:bob",
            agent: Book.online,
            now: Book.t0,
            lookup: Book.nothingStored
        )
        #expect(throws: ErrorBody.self) { try outcome.get() }
        if case .failure(let error) = outcome { #expect(error.code == .notCancellable) }
        #expect(effects.isEmpty)
    }
}

struct CommandBookExpiryTests {
    /// Three commands, all expiring at 300 s: never delivered, delivered twice but never acknowledged,
    /// and running.
    static func threeWays() -> CommandBook {
        var book = CommandBook()
        Book.created(&book, "cmd_never", agent: Book.away, agentId: "agt_away", at: 0)
        Book.created(&book, "cmd_unacked", at: 0)
        _ = book.agentReady(Book.agentId, agent: Book.online, now: Book.at(1))
        Book.created(&book, "cmd_running", at: 0)
        _ = book.acknowledge("cmd_running", from: Book.agentId, now: Book.at(2), lookup: Book.nothingStored)
        return book
    }

    @Test func nothingExpiresBeforeExpiresAt() {
        var book = Self.threeWays()
        #expect(book.expire(now: Book.at(299.999)) { _ in Book.online }.isEmpty)
        #expect(book.liveCount == 3)
    }

    @Test func theReasonSaysWhatIsKnown() throws {
        var book = Self.threeWays()
        let effects = book.expire(now: Book.at(300)) { $0 == "agt_away" ? Book.away : Book.online }
        let reasons = Dictionary(uniqueKeysWithValues: effects.changes.map { ($0.record.id, $0.event.reason ?? "") })
        #expect(reasons["cmd_never"] == "expired before it could be delivered (agent not connected)")
        #expect(reasons["cmd_unacked"] == "expired: delivered 2 times, never acknowledged")
        #expect(reasons["cmd_running"] == "expired while running: no result before expiresAt")
        #expect(effects.changes.allSatisfy { $0.record.status == .expired && $0.event.action == "command.expired" })
        #expect(effects.changes.allSatisfy { $0.event.result == .failure && $0.event.actor == "system" })
        #expect(effects.changes.first { $0.record.id == "cmd_running" }?.event.from == "RUNNING")
        #expect(effects.changes.first { $0.record.id == "cmd_unacked" }?.event.details?["deliveries"] == .number(2))
        // The routable agent is told for its two; the unroutable one for none.
        #expect(Set(effects.cancels.map(\.ref.commandId)) == ["cmd_unacked", "cmd_running"])
        #expect(effects.cancels.allSatisfy { $0.ref.reason == "expired" })
        #expect(book.liveCount == 0)
        #expect(book.expire(now: Book.at(400)) { _ in Book.online }.isEmpty, "an expired command expires once")
    }

    @Test func expiryGoesOldestFirst() {
        var book = CommandBook()
        Book.created(&book, "cmd_3", agent: Book.away, at: 3)
        Book.created(&book, "cmd_1", agent: Book.away, at: 1)
        Book.created(&book, "cmd_2", agent: Book.away, at: 2)
        let effects = book.expire(now: Book.at(1_000)) { _ in Book.away }
        #expect(effects.changes.map(\.record.id) == ["cmd_1", "cmd_2", "cmd_3"])
    }
}

struct CommandBookWaitTests {
    @Test func aWaitOnATerminalCommandIsAnsweredAtOnce() throws {
        var book = CommandBook()
        let effects = try book.wait(Book.waiter("w1"), id: "cmd_done") { id in Book.stored(id, .failed) }.get()
        #expect(effects.replies.map(\.corr) == ["w1"])
        #expect(effects.replies.first?.record.status == .failed)
        #expect(book.waiterCount == 0)
    }

    @Test func aWaitOnAnUnknownCommandFails() {
        var book = CommandBook()
        let outcome = book.wait(Book.waiter("w1"), id: "cmd_x", lookup: Book.nothingStored)
        guard case .failure(let error) = outcome else {
            Issue.record("a wait on an unknown command was accepted")
            return
        }
        #expect(error.code == .unknownCommand)
    }

    @Test func aWaitAlreadyPastAfterIsAnsweredAtOnce() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        _ = book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(1), lookup: Book.nothingStored)
        let effects = try book.wait(Book.waiter("w1", after: .pending), id: "cmd_a", lookup: Book.nothingStored).get()
        #expect(effects.replies.first?.record.status == .running)
        #expect(book.waiterCount == 0)
    }

    @Test func aWaitForTheEndParksThroughTheAckAndWakesOnTheResult() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        #expect(try book.wait(Book.waiter("w1"), id: "cmd_a", lookup: Book.nothingStored).get().isEmpty)
        #expect(book.waiterCount == 1)
        let ack = book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(1), lookup: Book.nothingStored)
        #expect(ack.replies.isEmpty)
        #expect(book.waiterCount == 1)
        let done = CommandBookCompleteTests.complete(&book, CommandResult(commandId: "cmd_a", success: true))
        #expect(done.kinds == ["change", "reply"])
        #expect(done.replies.first?.corr == "w1")
        #expect(done.replies.first?.record.status == .succeeded)
        #expect(book.waiterCount == 0)
    }

    @Test func aWaitAfterPendingWakesOnTheAckOnly() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        _ = try book.wait(Book.waiter("after-pending", after: .pending), id: "cmd_a", lookup: Book.nothingStored).get()
        _ = try book.wait(Book.waiter("to-the-end"), id: "cmd_a", lookup: Book.nothingStored).get()
        let ack = book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(1), lookup: Book.nothingStored)
        #expect(ack.replies.map(\.corr) == ["after-pending"])
        #expect(ack.replies.first?.record.status == .running)
        #expect(book.waiterCount == 1)
    }

    @Test func aWaitAfterRunningParksOnAPendingCommand() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        // The status is not `after`, so the answer is now: the command is PENDING, not RUNNING.
        let effects = try book.wait(Book.waiter("w1", after: .running), id: "cmd_a", lookup: Book.nothingStored).get()
        #expect(effects.replies.first?.record.status == .pending)
    }

    @Test(arguments: ["cancel", "expire"])
    func cancelAndExpiryWakeEveryWaiter(_ how: String) throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        _ = try book.wait(Book.waiter("w1", after: .pending), id: "cmd_a", lookup: Book.nothingStored).get()
        _ = try book.wait(Book.waiter("w2"), id: "cmd_a", lookup: Book.nothingStored).get()
        let effects: [CommandBook.Effect]
        if how == "cancel" {
            effects =
                book.cancel(
                    "cmd_a",
                    actor: "operator:bob",
                    agent: Book.online,
                    now: Book.at(1),
                    lookup: Book.nothingStored
                ).1
        } else {
            effects = book.expire(now: Book.at(400)) { _ in Book.online }
        }
        #expect(effects.replies.map(\.corr) == ["w1", "w2"])
        #expect(effects.replies.allSatisfy { $0.record.status.isTerminal })
        #expect(book.waiterCount == 0)
    }

    @Test func waitsTimeOutWithTheRecordAsItIs() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        Book.created(&book, "cmd_b")
        _ = try book.wait(Book.waiter("early", deadline: 5), id: "cmd_a", lookup: Book.nothingStored).get()
        _ = try book.wait(Book.waiter("late", deadline: 50), id: "cmd_a", lookup: Book.nothingStored).get()
        _ = try book.wait(Book.waiter("other", deadline: 5), id: "cmd_b", lookup: Book.nothingStored).get()
        #expect(book.timeOutWaiters(now: Book.at(4.9)).isEmpty)
        let due = book.timeOutWaiters(now: Book.at(5))
        #expect(Set(due.replies.map(\.corr)) == ["early", "other"])
        #expect(due.replies.allSatisfy { $0.record.status == .pending })
        #expect(book.waiterCount == 1)
        #expect(book.timeOutWaiters(now: Book.at(6)).isEmpty)
        #expect(book.timeOutWaiters(now: Book.at(50)).replies.map(\.corr) == ["late"])
        #expect(book.waiterCount == 0)
    }

    @Test func waitersOfOneCommandAreNotWokenByAnother() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        Book.created(&book, "cmd_b")
        _ = try book.wait(Book.waiter("on-a"), id: "cmd_a", lookup: Book.nothingStored).get()
        let done = CommandBookCompleteTests.complete(&book, CommandResult(commandId: "cmd_b", success: true))
        #expect(done.replies.isEmpty)
        #expect(book.waiterCount == 1)
    }
}

struct CommandBookRollbackTests {
    @Test func aCreateThatCouldNotBeStoredIsDiscarded() {
        var book = CommandBook()
        Book.created(&book, "cmd_a", agent: Book.away)
        book.discard("cmd_a")
        #expect(book.liveCount == 0)
        #expect(book.agentReady(Book.agentId, agent: Book.online, now: Book.at(1)).isEmpty)
        #expect(book.expire(now: Book.at(1_000)) { _ in Book.online }.isEmpty)
    }

    @Test func aResultThatCouldNotBeStoredIsPutBackAndCanArriveAgain() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        _ = book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(1), lookup: Book.nothingStored)
        let failedWrite = try #require(
            CommandBookCompleteTests.complete(&book, CommandResult(commandId: "cmd_a", success: true)).changes.first
        )
        #expect(book.live["cmd_a"] == nil)
        book.restore(failedWrite.previous, id: "cmd_a")
        #expect(book.live["cmd_a"]?.record.status == .running)
        #expect(book.live["cmd_a"]?.record.completedAt == nil)
        let again = CommandBookCompleteTests.complete(&book, CommandResult(commandId: "cmd_a", success: false), at: 6)
        #expect(again.changes.first?.record.status == .failed)
    }

    @Test func anAckThatCouldNotBeStoredIsPutBack() throws {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let failedWrite = try #require(
            book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(1), lookup: Book.nothingStored).changes.first
        )
        book.restore(failedWrite.previous, id: "cmd_a")
        #expect(book.live["cmd_a"]?.record.status == .pending)
        #expect(book.live["cmd_a"]?.record.startedAt == nil)
        // So the next ack is a transition again, not a repeat.
        #expect(
            book.acknowledge("cmd_a", from: Book.agentId, now: Book.at(2), lookup: Book.nothingStored).kinds == [
                "change"
            ]
        )
    }

    /// A command put back keeps its place: an agent still gets its commands oldest first.
    @Test(arguments: ["ack", "result", "cancel"])
    func aRestoredCommandKeepsItsPlaceInTheQueue(_ change: String) throws {
        var book = CommandBook()
        Book.created(&book, "cmd_old", agent: Book.away, at: 0)
        Book.created(&book, "cmd_mid", agent: Book.away, at: 1)
        Book.created(&book, "cmd_new", agent: Book.away, at: 2)
        let effects: [CommandBook.Effect]
        switch change {
        case "ack":
            effects = book.acknowledge("cmd_old", from: Book.agentId, now: Book.at(3), lookup: Book.nothingStored)
        case "result":
            effects = CommandBookCompleteTests.complete(&book, CommandResult(commandId: "cmd_old", success: true))
        default:
            effects =
                book.cancel(
                    "cmd_old",
                    actor: "operator:bob",
                    agent: Book.away,
                    now: Book.at(3),
                    lookup: Book.nothingStored
                ).1
        }
        let failedWrite = try #require(effects.changes.first)
        book.restore(failedWrite.previous, id: "cmd_old")
        let pushed = book.agentReady(Book.agentId, agent: Book.online, now: Book.at(4))
        #expect(pushed.dispatches.map(\.body.commandId) == ["cmd_old", "cmd_mid", "cmd_new"])
    }

    @Test func commandsLoadedAtStartAreLiveAgain() {
        let record = CommandRecord(
            id: "cmd_a",
            serviceCode: "billing",
            agentId: Book.agentId,
            action: "flush",
            payload: .object([:]),
            status: .running,
            actor: "operator:alice",
            createdAt: Book.t0,
            updatedAt: Book.t0,
            expiresAt: Book.at(300),
            deliveries: 1
        )
        var book = CommandBook(live: [
            CommandBook.Live(record: record, raw: .object(["k": .string("v")]), oneTimeFields: [])
        ])
        let pushed = book.agentReady(Book.agentId, agent: Book.online, now: Book.at(1))
        #expect(pushed.dispatches.first?.body.payload == .object(["k": .string("v")]))
        #expect(book.live["cmd_a"]?.record.deliveries == 2)
    }
}

struct CommandBookCancelAllTests {
    @Test func forgettingAServiceCancelsItsLiveCommandsOnly() {
        var book = CommandBook()
        Book.created(&book, "cmd_a")
        let other = ServiceManifest(
            code: "search",
            name: "Search",
            version: "1",
            runtime: "swift",
            actions: [ActionDefinition(name: "flush")]
        )
        _ = Book.create(&book, "cmd_b", service: other)
        let effects = book.cancelAll(services: ["billing"], actor: "operator:bob", now: Book.at(1))
        #expect(effects.changes.map(\.record.id) == ["cmd_a"])
        #expect(effects.changes.first?.event.reason == "service forgotten")
        // Delivered already: the agent may be running it, so it is told (a handler stops).
        #expect(effects.cancels.map(\.ref.commandId) == ["cmd_a"])
        #expect(book.live["cmd_b"] != nil)
    }

    @Test func anUndeliveredCommandOfAForgottenServiceIsCancelledWithoutTellingAnyone() {
        var book = CommandBook()
        Book.created(&book, "cmd_a", agent: Book.away)
        let effects = book.cancelAll(services: ["billing"], actor: "operator:bob", now: Book.at(1))
        #expect(effects.changes.map(\.record.status) == [.cancelled])
        #expect(effects.cancels.isEmpty)
    }
}

/// A thrown test failure with a message.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
