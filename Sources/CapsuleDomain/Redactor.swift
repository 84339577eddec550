/// Replaces the values of secret-looking keys with `[REDACTED]`, recursively (design §5).
package enum Redactor {
    package static let placeholder = "[REDACTED]"
    private static let markers = ["token", "secret", "password", "passwd", "cookie", "authorization", "apikey"]

    /// Whether a key names a secret: token, secret, password, cookie, authorization or api-key,
    /// in any case and with or without `-` or `_` (so `apiKey`, `api_key`, `X-Api-Key`, `db_password`).
    package static func isSecretKey(_ key: String) -> Bool {
        let normalized = key.lowercased().filter { $0 != "-" && $0 != "_" }
        return markers.contains { normalized.contains($0) }
    }

    /// Redacts `value`; when `key` itself is secret-looking, the whole value is replaced.
    package static func redact(_ value: JSONValue, key: String? = nil) -> JSONValue {
        if let key, isSecretKey(key) { return .string(placeholder) }
        switch value {
        case .object(let object):
            var copy: [String: JSONValue] = [:]
            for (k, v) in object { copy[k] = redact(v, key: k) }
            return .object(copy)
        case .array(let items):
            return .array(items.map { redact($0) })
        default:
            return value
        }
    }

    package static func redact(_ value: JSONValue?) -> JSONValue? {
        value.map { redact($0) }
    }
}
