import CapsuleDomain
import Foundation
import Testing

struct RedactorTests {
    /// Design §5: a key is sensitive when its name ends in token, secret, password, cookie,
    /// authorization, api key, private key or credential (words split at case changes, `_`, `-`, `.`).
    static let secretKeys = [
        "token", "secret", "password", "cookie", "authorization", "apiKey", "api_key", "X-Api-Key", "db_password",
        "TOKEN", "Set-Cookie", "clientSecret", "refresh_token", "Authorization", "accessToken", "client_secret",
        "x-api-key",
        "privateKey", "ssh.private-key", "awsCredential", "APIKey", "apikey", "session.cookie",
    ]
    static let plainKeys = [
        "name", "replicas", "host", "user", "mode", "publicKey", "key", "url", "count", "pass", "tokenId",
        "revokedTokens",
        "secretRef", "passwordPolicy", "cookieDomain", "credentials", "tokenCount",
    ]

    @Test(arguments: secretKeys)
    func secretKeyIsRecognised(_ key: String) {
        #expect(Redactor.isSecretKey(key))
    }

    @Test(arguments: plainKeys)
    func plainKeyIsNotSecret(_ key: String) {
        #expect(!Redactor.isSecretKey(key))
    }

    @Test(arguments: secretKeys)
    func topLevelSecretValueIsReplaced(_ key: String) {
        let value = JSONValue.object([key: .string("s3cr3t"), "name": .string("web")])
        let redacted = Redactor.redact(value)
        #expect(redacted[key] == .string(Redactor.placeholder))
        #expect(redacted["name"] == .string("web"))
        #expect(!redacted.compactText.contains("s3cr3t"))
    }

    @Test func redactsRecursivelyThroughObjectsAndArrays() throws {
        let value = try JSONValue.parse(
            """
            {
              "name": "billing",
              "replicas": 3,
              "db": {"host": "db1", "db_password": "pw-1", "options": {"X-Api-Key": "key-2", "ssl": true}},
              "backends": [
                {"host": "a", "token": "tok-3"},
                {"host": "b", "headers": [{"authorization": "Bearer tok-4"}, {"accept": "json"}]}
              ],
              "plain": ["token", "password"],
              "secret": {"nested": "whole-5", "list": [1, 2]},
              "cookie": ["c-6", "c-7"],
              "apiKey": 12345
            }
            """
        )
        let redacted = Redactor.redact(value)
        let text = redacted.compactText
        for leaked in ["pw-1", "key-2", "tok-3", "tok-4", "whole-5", "c-6", "c-7", "12345"] {
            #expect(!text.contains(leaked), "\(leaked) survived: \(text)")
        }
        let placeholder = JSONValue.string(Redactor.placeholder)
        #expect(redacted["db"]?["db_password"] == placeholder)
        #expect(redacted["db"]?["options"]?["X-Api-Key"] == placeholder)
        #expect(redacted["secret"] == placeholder, "a secret key replaces the whole subtree")
        #expect(redacted["cookie"] == placeholder)
        #expect(redacted["apiKey"] == placeholder, "non-string values under a secret key are replaced too")
        // Everything else is untouched.
        #expect(redacted["name"] == .string("billing"))
        #expect(redacted["replicas"] == .number(3))
        #expect(redacted["db"]?["host"] == .string("db1"))
        #expect(redacted["db"]?["options"]?["ssl"] == .bool(true))
        #expect(
            redacted["plain"] == .array([.string("token"), .string("password")]),
            "strings in arrays are values, not keys"
        )
        guard case .array(let backends) = redacted["backends"], backends.count == 2 else {
            Issue.record("backends lost its shape: \(text)")
            return
        }
        #expect(backends[0] == .object(["host": .string("a"), "token": placeholder]))
        #expect(
            backends[1]["headers"]
                == .array([.object(["authorization": placeholder]), .object(["accept": .string("json")])])
        )
    }

    @Test func valueWithoutSecretsIsUnchanged() throws {
        let value = try JSONValue.parse(#"{"a": [1, {"b": null, "c": "d"}], "e": {"f": false}}"#)
        #expect(Redactor.redact(value) == value)
        #expect(Redactor.redact(JSONValue?.none) == nil)
        #expect(Redactor.redact(JSONValue.string("password")) == JSONValue.string("password"))
    }

    @Test func redactingTwiceIsStable() throws {
        let value = try JSONValue.parse(#"{"token": "t", "x": [{"password": "p"}]}"#)
        let once = Redactor.redact(value)
        #expect(Redactor.redact(once) == once)
    }

    @Test func explicitSecretKeyReplacesAnyValue() {
        #expect(Redactor.redact(.object(["a": .number(1)]), key: "password") == .string(Redactor.placeholder))
        #expect(Redactor.redact(.number(1), key: "replicas") == .number(1))
    }

    @Test func sensitiveConfigItemNeverKeepsItsValue() {
        let item = ConfigItem(
            key: "database.url",
            value: .string("postgres://u:pw@db/x"),
            sensitive: true,
            secretRef: "vault:db/url"
        )
        #expect(item.value == nil)
        #expect(item.sanitized.value == nil)
        #expect(item.secretRef == "vault:db/url")

        // Even if a value is assigned later, sanitising removes it.
        var mutated = item
        mutated.value = .string("leak")
        #expect(mutated.sanitized.value == nil)
        #expect(mutated.sanitized.sensitive)
    }

    @Test func nonSensitiveConfigItemIsRedactedByKey() {
        #expect(ConfigItem(key: "db_password", value: .string("pw")).sanitized.value == .string(Redactor.placeholder))
        #expect(
            ConfigItem(key: "pool", value: .object(["token": .string("t"), "size": .number(4)])).sanitized.value
                == .object(["token": .string(Redactor.placeholder), "size": .number(4)])
        )
        #expect(ConfigItem(key: "replicas", value: .number(3)).sanitized.value == .number(3))
    }

    @Test func sanitizedManifestCarriesNoSecrets() throws {
        let manifest = ServiceManifest(
            code: "billing",
            name: "Billing",
            version: "1.0",
            runtime: "swift",
            configs: [
                ConfigItem(key: "dsn", value: .string("secret-dsn"), sensitive: true),
                ConfigItem(key: "apiKey", value: .string("secret-key")),
                ConfigItem(key: "region", value: .string("eu")),
            ]
        )
        let sanitized = manifest.sanitized
        let text = String(decoding: try JSONEncoder().encode(sanitized), as: UTF8.self)
        #expect(!text.contains("secret-dsn"))
        #expect(!text.contains("secret-key"))
        #expect(sanitized.configs.map(\.value) == [nil, .string(Redactor.placeholder), .string("eu")])
    }

    @Test func auditEventDetailsAreRedactedOnCreation() {
        let event = AuditEvent(
            publisher: "broker",
            seq: 1,
            at: Date(timeIntervalSince1970: 0),
            action: "command.created",
            subject: "command:1",
            actor: "operator:ann",
            details: .object(["payload": .object(["password": .string("hunter2"), "n": .number(1)])])
        )
        #expect(event.details?["payload"]?["password"] == .string(Redactor.placeholder))
        #expect(event.details?["payload"]?["n"] == .number(1))
    }
}
