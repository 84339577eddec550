import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation
import Testing

@testable import CapsuleBroker

private let created = Date(timeIntervalSince1970: 1_700_000_000)

private func key(_ kind: Principal.Kind, _ state: Principal.State = .active) -> Principal {
    let identity =
        switch kind {
        case .agent: "agt_000000000001"
        case .service: "aggregator"
        case .operator: "alice"
        }
    return Principal(
        publicKey: "KEY",
        kind: kind,
        identity: identity,
        role: kind == .operator ? .operator : nil,
        state: state,
        createdAt: created
    )
}

private func header(_ type: MessageType, from sender: String) -> Header {
    Header(type: type, id: "msg-1", sender: sender, ts: 1_700_000_000_000)
}

extension RouterGate.Admission {
    /// A comparable rendering: the case, and for a refusal its code, whether it cuts, and the drop reason.
    var label: String {
        switch self {
        case .hello: "hello"
        case .agentAck: "agentAck"
        case .agentResult: "agentResult"
        case .workerReady: "workerReady"
        case .workerReply: "workerReply"
        case .reportRequest: "reportRequest"
        case .request: "request"
        case .refuse(let error, let cut, let drop): "refuse \(error.code) cut=\(cut) drop=\(drop)"
        case .identityMismatch(let claimed): "identityMismatch \(claimed)"
        }
    }
}

struct RouterGateAdmitTests {
    /// docs/protocol.md §5, "What the broker accepts from whom", on the router.
    static let accepted: [Principal.Kind: [MessageType: String]] = [
        .agent: [.commandAck: "agentAck", .commandResult: "agentResult"],
        .service: [
            .workerReady: "workerReady", .reply: "workerReply", .reportRequest: "reportRequest", .request: "request",
        ],
        .operator: [.request: "request"],
    ]
    static let others = MessageType.allCases.filter { $0 != .agentHello }

    @Test(
        arguments: [
            nil, key(.agent), key(.service), key(.operator), key(.agent, .disabled), key(.agent, .revoked),
            key(.operator, .revoked),
        ] as [Principal?]
    )
    func helloIsAdmittedFromAnyKeyWhateverItsSender(principal: Principal?) {
        // The welcome decides about known keys; the gate lets every hello through, even with a made-up sender.
        #expect(RouterGate.admit(header(.agentHello, from: "anything"), principal: principal).label == "hello")
    }

    @Test(arguments: others)
    func anUnknownKeyMaySendNothingButHello(type: MessageType) {
        let admission = RouterGate.admit(header(type, from: "agt_000000000001"), principal: nil)
        #expect(admission.label == "refuse not_enrolled cut=false drop=unauthorised")
    }

    @Test(arguments: others, [Principal.Kind.agent, .service, .operator])
    func aRevokedKeyIsRefusedAndCut(type: MessageType, kind: Principal.Kind) {
        let principal = key(kind, .revoked)
        let admission = RouterGate.admit(header(type, from: principal.sender), principal: principal)
        #expect(admission.label == "refuse key_revoked cut=true drop=inactive")
    }

    @Test(arguments: others)
    func aDisabledAgentMayStillReportOnCommandsButNothingElse(type: MessageType) {
        let principal = key(.agent, .disabled)
        let admission = RouterGate.admit(header(type, from: principal.sender), principal: principal)
        switch type {
        case .commandAck: #expect(admission.label == "agentAck")
        case .commandResult: #expect(admission.label == "agentResult")
        default: #expect(admission.label == "refuse key_disabled cut=false drop=inactive")
        }
    }

    @Test(arguments: others, [Principal.Kind.service, .operator])
    func aDisabledServiceOrOperatorKeyMaySendNothing(type: MessageType, kind: Principal.Kind) {
        let principal = key(kind, .disabled)
        let admission = RouterGate.admit(header(type, from: principal.sender), principal: principal)
        #expect(admission.label == "refuse key_disabled cut=false drop=inactive")
    }

    @Test(arguments: others, [Principal.Kind.agent, .service, .operator])
    func anActiveKeyMaySendExactlyWhatItsKindMay(type: MessageType, kind: Principal.Kind) {
        let principal = key(kind)
        let admission = RouterGate.admit(header(type, from: principal.sender), principal: principal)
        if let expected = Self.accepted[kind]?[type] {
            #expect(admission.label == expected)
        } else {
            #expect(admission.label == "refuse not_allowed cut=false drop=not_allowed")
            if case .refuse(let error, _, _) = admission {
                #expect(error.message == "\(type.rawValue) is not accepted from a \(kind.rawValue)")
            }
        }
    }

    @Test func agentsMayNotSendRequests() {
        let principal = key(.agent)
        #expect(
            RouterGate.admit(header(.request, from: principal.sender), principal: principal).label
                == "refuse not_allowed cut=false drop=not_allowed"
        )
    }

    @Test(
        arguments: [
            (key(.agent), "agt_999999999999"),
            (key(.agent), "aggregator"),
            (key(.service), "audit"),
            (key(.operator), "alice"),  // an operator's sender is operator:NAME
            (key(.operator), "operator:bob"),
            (key(.agent, .disabled), "agt_999999999999"),
        ] as [(Principal, String)]
    )
    func aSenderThatIsNotTheKeysIdentityIsAMismatch(principal: Principal, claimed: String) {
        let type: MessageType = principal.kind == .agent ? .commandResult : .request
        #expect(
            RouterGate.admit(header(type, from: claimed), principal: principal).label == "identityMismatch \(claimed)"
        )
    }

    @Test func theStateIsCheckedBeforeTheIdentity() {
        // A revoked key is cut even when it also lies about who it is.
        let principal = key(.agent, .revoked)
        #expect(
            RouterGate.admit(header(.commandAck, from: "agt_999999999999"), principal: principal).label
                == "refuse key_revoked cut=true drop=inactive"
        )
    }
}

struct RouterGateWelcomeTests {
    static let hello = AgentHello(
        agentCode: "billing-host",
        services: ["billing"],
        manifestDigest: "0",
        software: "test"
    )

    @Test func anActiveAgentUnderItsOwnCodeIsWelcomed() {
        #expect(RouterGate.welcome(Self.hello, principal: key(.agent), enrolledCode: "billing-host") == nil)
    }

    @Test(
        arguments: [
            (key(.service), "billing-host", ErrorBody.Code.notAnAgent, "this key belongs to a service"),
            (key(.operator), "billing-host", .notAnAgent, "this key belongs to a operator"),
            (key(.service, .revoked), "billing-host", .notAnAgent, "belongs to a service"),
            (key(.agent, .disabled), "billing-host", .agentDisabled, "agent agt_000000000001 is disabled"),
            (key(.agent, .revoked), "billing-host", .agentRevoked, "agent agt_000000000001 is revoked"),
            (key(.agent, .disabled), "other-host", .agentDisabled, "is disabled"),
            (key(.agent), "other-host", .agentCodeMismatch, "with code other-host, not billing-host"),
            (key(.agent), nil, .agentCodeMismatch, "with code ?, not billing-host"),
        ] as [(Principal, String?, ErrorBody.Code, String)]
    )
    func refusalsInOrder(principal: Principal, enrolledCode: String?, code: ErrorBody.Code, says: String) throws {
        let error = try #require(RouterGate.welcome(Self.hello, principal: principal, enrolledCode: enrolledCode))
        #expect(error.code == code)
        #expect(error.message.contains(says), "\(error.message)")
    }

    @Test func aHostileAgentCodeIsEscapedInTheRefusal() throws {
        var hello = Self.hello
        hello.agentCode = "x\nFORGED"
        let error = try #require(RouterGate.welcome(hello, principal: key(.agent), enrolledCode: "billing-host"))
        #expect(error.code == .agentCodeMismatch)
        #expect(!error.message.contains("\n"))
    }
}
