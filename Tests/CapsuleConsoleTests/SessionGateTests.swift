import CapsuleConsole
import Testing

struct SessionGateTests {
    let gate = SessionGate(secret: "s3cret", listenHost: "127.0.0.1", port: 7480)

    func head(
        _ method: String = "GET",
        path: String = "/",
        token: String? = nil,
        cookie: String? = nil,
        host: String? = "127.0.0.1:7480",
        origin: String? = nil,
        contentType: String? = nil,
        console: String? = nil,
        authorization: String? = nil
    ) -> SessionGate.Head {
        SessionGate.Head(
            method: method,
            path: path,
            queryToken: token,
            otherQuery: nil,
            cookieHeader: cookie,
            authorization: authorization,
            host: host,
            origin: origin,
            contentType: contentType,
            consoleHeader: console
        )
    }

    @Test func aRequestWithoutTheSecretIsUnauthorized() {
        #expect(gate.decide(head()) == .unauthorized)
        #expect(gate.decide(head(path: "/api/session")) == .unauthorized)
        #expect(gate.decide(head(cookie: "capsule_console_7480=wrong")) == .unauthorized)
        #expect(gate.decide(head(token: "wrong")) == .unauthorized)
        // Another console's cookie (another port) is not this one's.
        #expect(gate.decide(head(cookie: "capsule_console_7481=s3cret")) == .unauthorized)
    }

    @Test func theFirstVisitTurnsTheSecretIntoACookieAndDropsItFromTheURL() {
        guard case .redirect(let location, let cookie) = gate.decide(head(token: "s3cret")) else {
            Issue.record("expected a redirect")
            return
        }
        #expect(location == "/")
        #expect(cookie == "capsule_console_7480=s3cret; Path=/; HttpOnly; SameSite=Strict")
        var withQuery = head(path: "/", token: "s3cret")
        withQuery.otherQuery = "x=1"
        #expect(gate.decide(withQuery) == .redirect(location: "/?x=1", setCookie: gate.setCookie()))
    }

    @Test func theCookieOrABearerHeaderAdmits() {
        #expect(gate.decide(head(cookie: "theme=dark; capsule_console_7480=s3cret")) == .allow)
        #expect(gate.decide(head(path: "/api/session", authorization: "Bearer s3cret")) == .allow)
    }

    @Test func onLoopbackOnlyTheConsolesOwnNamesAreAnswered() {
        #expect(gate.decide(head(cookie: "capsule_console_7480=s3cret", host: "localhost:7480")) == .allow)
        #expect(gate.decide(head(cookie: "capsule_console_7480=s3cret", host: "[::1]:7480")) == .allow)
        guard case .forbidden = gate.decide(head(cookie: "capsule_console_7480=s3cret", host: "evil.example:7480"))
        else {
            Issue.record("a rebinding host name must be refused")
            return
        }
        guard case .forbidden = gate.decide(head(cookie: "capsule_console_7480=s3cret", host: nil)) else {
            Issue.record("no Host header must be refused")
            return
        }
        // Beyond loopback the operator chose the address; the secret still decides.
        let open = SessionGate(secret: "s3cret", listenHost: "0.0.0.0", port: 7480)
        #expect(open.decide(head(cookie: "capsule_console_7480=s3cret", host: "console.lan:7480")) == .allow)
        #expect(open.decide(head(host: "console.lan:7480")) == .unauthorized)
    }

    @Test func stateChangingRequestsNeedJSONTheHeaderAndTheOwnOrigin() {
        let cookie = "capsule_console_7480=s3cret"
        let good = head(
            "POST",
            path: "/api/broker/command.create",
            cookie: cookie,
            origin: "http://127.0.0.1:7480",
            contentType: "application/json",
            console: "1"
        )
        #expect(gate.decide(good) == .allow)
        var noHeader = good
        noHeader.consoleHeader = nil
        var form = good
        form.contentType = "application/x-www-form-urlencoded"
        var foreign = good
        foreign.origin = "http://evil.example"
        for refused in [noHeader, form, foreign] {
            guard case .forbidden = gate.decide(refused) else {
                Issue.record("expected a refusal for \(refused)")
                continue
            }
        }
        // Without the secret it is a 401 whatever else it carries.
        var anonymous = good
        anonymous.cookieHeader = nil
        #expect(gate.decide(anonymous) == .unauthorized)
    }

    @Test func secretsAreLongAndCompareExactly() {
        let secret = SessionGate.randomSecret()
        #expect(secret.count == 64)
        #expect(secret != SessionGate.randomSecret())
        #expect(SessionGate.same("abc", "abc"))
        #expect(!SessionGate.same("abc", "abd"))
        #expect(!SessionGate.same("abc", "abcd"))
        #expect(!SessionGate.same("", "a"))
    }
}
