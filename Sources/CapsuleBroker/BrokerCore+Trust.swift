import CapsuleCrypto
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import Foundation
import Logging

extension BrokerCore {
    /// Refreshes the allow-list entries of one identity after a change, so it bites on the next
    /// message (every key it holds: a re-enrolment revokes the old one).
    func refreshPrincipals(identity: String) {
        guard let changed = try? store.principals(identity: identity) else { return }
        for principal in changed { principals[principal.publicKey] = principal }
    }

    /// Enrols an unknown key from its hello; returns the agentId, or nil after replying with an error.
    func enroll(_ hello: AgentHello, key: String, route: Data, corr: String) -> String? {
        let at = now
        let code = hello.agentCode
        func refuse(_ errorCode: String, _ message: String) -> String? {
            record { seq in
                AuditEvent(publisher: "broker", seq: seq, at: at, action: "agent.enrollment_refused", subject: "agent-code:\(code)",
                           actor: "key:\(key)", result: .failure, reason: message, details: .object(["code": .string(errorCode)]))
            }
            logger.notice("Refused an enrollment.", metadata: ["agent.code": "\(code)", "error.code": "\(errorCode)"])
            sendError(to: route, corr: corr, code: errorCode, message: message)
            return nil
        }
        guard let token = hello.enrollmentToken, !token.isEmpty else {
            return refuse("enrollment_token_required", "this key is not enrolled: start the agent once with a registration token (capsulectl token create)")
        }
        do {
            let enrolled = try store.enroll(code: code, publicKey: key, tokenHash: Crypto.sha256Hex(token), services: hello.services, now: at)
            refreshPrincipals(identity: enrolled.agentId)
            enrolled.events.forEach(publish)
            logger.info("Agent enrolled.", metadata: ["agent.id": "\(enrolled.agentId)", "agent.code": "\(code)"])
            return enrolled.agentId
        } catch let error as StoreError {
            return refuse(error.code.rawValue, error.message)
        } catch {
            return refuse("internal", "enrollment failed")
        }
    }

    /// Broker operations for tokens, agents and operators. Roles are checked before this runs.
    /// The reply to `token.create`: the raw token, shown this once, and its stored record.
    private struct TokenCreated: Encodable {
        var token: String
        var record: TokenRecord
    }

    func handleTrustRequest(_ request: Request, principal: Principal) throws -> (any Encodable)? {
        let params = request.params
        let actor = principal.sender
        switch request.op {
        case "token.create":
            guard let name = params["name"]?.stringValue, !name.isEmpty else {
                throw ErrorBody(code: "bad_request", message: "token.create needs a name")
            }
            let seconds = params["expiresInSeconds"]?.intValue ?? 3_600
            guard seconds > 0, seconds <= 30 * 86_400 else {
                throw ErrorBody(code: "bad_request", message: "token expiry must be between 1 s and 30 days")
            }
            let raw = Crypto.token(prefix: "cap_")
            let (record, event) = try store.createToken(
                name: name, hash: Crypto.sha256Hex(raw), agentCode: params["agentCode"]?.stringValue,
                expiresAt: now.addingTimeInterval(Double(seconds)), actor: actor, actorRole: principal.role ?? .viewer, now: now)
            publish(event)
            // The raw token leaves the broker exactly once, in this reply; only its hash is stored.
            return TokenCreated(token: raw, record: record)
        case "token.list":
            return try store.tokens(now: now)
        case "token.revoke":
            guard let id = params["id"]?.stringValue else { throw ErrorBody(code: "bad_request", message: "token.revoke needs an id") }
            let (record, event) = try store.revokeToken(id: id, actor: actor, now: now)
            publish(event)
            return record
        case "agent.list":
            return try store.agents()
        case "agent.disable", "agent.enable", "agent.revoke":
            guard let id = params["id"]?.stringValue else { throw ErrorBody(code: "bad_request", message: "\(request.op) needs an agent id") }
            let state: Principal.State = request.op == "agent.disable" ? .disabled : request.op == "agent.enable" ? .active : .revoked
            let event = try store.setAgentState(agentId: id, to: state, actor: actor, now: now)
            refreshPrincipals(identity: id)
            publish(event)
            if state == .revoked { agentRoutes[id] = nil }
            return try store.agent(id: id)
        case "operator.add":
            guard let name = params["name"]?.stringValue, !name.isEmpty,
                let roleText = params["role"]?.stringValue, let role = Principal.Role(rawValue: roleText),
                let key = params["publicKey"]?.stringValue, key.count == 40
            else {
                throw ErrorBody(code: "bad_request", message: "operator.add needs name, role (viewer, operator or owner) and a Z85 publicKey")
            }
            publish(try store.addOperator(name: name, publicKey: key, role: role, actor: actor, now: now))
            refreshPrincipals(identity: name)
            return JSONValue.object(["name": .string(name), "role": .string(role.rawValue)])
        case "operator.list":
            let operators = principals.values.filter { $0.kind == .operator }.sorted { $0.identity < $1.identity }
            return JSONValue.array(operators.map {
                .object(["name": .string($0.identity), "role": .string($0.role?.rawValue ?? "viewer"), "state": .string($0.state.rawValue),
                         "publicKey": .string($0.publicKey), "createdAt": .string(ISO8601DateFormatter().string(from: $0.createdAt))])
            })
        case "operator.remove":
            guard let name = params["name"]?.stringValue else { throw ErrorBody(code: "bad_request", message: "operator.remove needs a name") }
            guard name != principal.identity else { throw ErrorBody(code: "bad_request", message: "an owner cannot remove their own key") }
            publish(try store.removeOperator(name: name, actor: actor, now: now))
            refreshPrincipals(identity: name)
            return JSONValue.object(["name": .string(name), "state": .string("REVOKED")])
        default:
            return nil
        }
    }
}
