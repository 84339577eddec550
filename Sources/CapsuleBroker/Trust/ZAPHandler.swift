import CapsuleProtocol
import CapsuleStore
import Foundation

/// Decides ZAP requests (RFC 27) for the broker's three CURVE endpoints.
///
/// Every connecting key gets its Z85 text as `User-Id`, so each later message can be checked against
/// the current allow-list (ZAP runs once per connection; revocation must bite per message).
struct ZAPHandler {
    struct Decision: Equatable {
        var status: String
        var text: String
        var userId: String
    }

    /// - Parameters:
    ///   - domain: `ingest`, `bus` or `router` (the ZAP domain set on each endpoint).
    ///   - principal: the enrolled principal for the key, if any.
    static func decide(mechanism: String, domain: String, publicKey: String?, principal: Principal?) -> Decision {
        guard mechanism == "CURVE", let publicKey else {
            return Decision(status: "400", text: "CURVE required", userId: "")
        }
        if let principal, principal.state == .revoked {
            return Decision(status: "400", text: "key revoked", userId: "")
        }
        switch domain {
        case "router":
            // Unknown keys may connect here, but may do nothing except enrol.
            return Decision(status: "200", text: "OK", userId: publicKey)
        case "ingest":
            // 300 (temporary): libzmq retries after HANDSHAKE_IVL, so a key enrolled or trusted later
            // gets in without a restart. 400 would end that socket for good (zmq-notes).
            guard let principal, principal.kind == .agent || principal.kind == .service else {
                return Decision(status: "300", text: "key not enrolled", userId: "")
            }
            guard principal.state == .active else { return Decision(status: "300", text: "key disabled", userId: "") }
            return Decision(status: "200", text: "OK", userId: publicKey)
        case "bus":
            // The bus carries raw reports (health details included) between internal services; no
            // operator of any role reads it (design §5: whatever an operator can read is redacted).
            // Operators follow the audit trail through `audit.query` instead.
            if principal?.kind == .operator {
                return Decision(
                    status: "400",
                    text: "bus is for internal services; operators follow the audit trail",
                    userId: ""
                )
            }
            guard let principal, principal.kind == .service else {
                return Decision(status: "300", text: "bus is for internal services", userId: "")
            }
            guard principal.state == .active else { return Decision(status: "300", text: "key disabled", userId: "") }
            return Decision(status: "200", text: "OK", userId: publicKey)
        default:
            return Decision(status: "400", text: "unknown domain", userId: "")
        }
    }
}
