import Synchronization

/// Replaces the values of secret-looking keys with `[REDACTED]`, recursively (design §5).
package enum Redactor {
    package static let placeholder = "[REDACTED]"

    /// The last word (or last two words) that make a key sensitive; `apikey` and `privatekey` are the
    /// same two words written as one.
    private static let lastWords: Set<String> = [
        "token", "secret", "password", "cookie", "authorization", "credential", "apikey", "privatekey",
    ]
    private static let lastTwoWords: Set<String> = ["api key", "private key"]

    /// Whether a key names a secret: its name, split into words at case changes, `_`, `-`, `.` and
    /// spaces, ends in token, secret, password, cookie, authorization, api key, private key or
    /// credential. So `accessToken`, `client_secret` and `x-api-key` are secret, while `tokenId`
    /// and `revokedTokens` are not.
    package static func isSecretKey(_ key: String) -> Bool {
        if let known = verdicts.withLock({ $0[key] }) { return known }
        let secret = decide(key)
        verdicts.withLock { cache in
            if cache.count >= 4_096 { cache.removeAll(keepingCapacity: true) }
            cache[key] = secret
        }
        return secret
    }

    /// Keys seen so far and whether each is secret: the same few keys recur in every event, and
    /// splitting a key into words costs far more than looking it up. Bounded; cleared when full.
    private static let verdicts = Mutex<[String: Bool]>([:])

    private static func decide(_ key: String) -> Bool {
        let words = Self.words(key)
        guard let last = words.last else { return false }
        if lastWords.contains(last) { return true }
        if words.count >= 2 { return lastTwoWords.contains(words[words.count - 2] + " " + last) }
        return false
    }

    /// Splits `accessToken`, `client_secret`, `X-API-Key` and `APIKey` into lowercase words.
    static func words(_ key: String) -> [String] {
        var words: [String] = []
        var current: [Character] = []
        let characters = Array(key)
        func flush() {
            if !current.isEmpty { words.append(String(current).lowercased()) }
            current.removeAll()
        }
        for (index, character) in characters.enumerated() {
            if character == "_" || character == "-" || character == "." || character == " " {
                flush()
                continue
            }
            if character.isUppercase, let previous = current.last {
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                // "accessToken" splits before T; "APIKey" splits before K (an acronym ends where a word starts).
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && next?.isLowercase == true) {
                    flush()
                }
            }
            current.append(character)
        }
        flush()
        return words
    }

    /// Redacts `value`; when `key` itself is secret-looking, the whole value is replaced.
    package static func redact(_ value: JSONValue, key: String? = nil) -> JSONValue {
        if let key, isSecretKey(key) { return .string(placeholder) }
        switch value {
        case .object(let object):
            // Nothing to change, the usual case: the value goes back as it came, without a copy.
            if object.allSatisfy({ key, member in !isSecretKey(key) && !member.isContainer }) { return value }
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

extension JSONValue {
    fileprivate var isContainer: Bool {
        switch self {
        case .object, .array: true
        default: false
        }
    }
}
