/// The one syntax of Capsule identifiers (design §5, "Bounded by construction"): agent codes,
/// service codes, action names, operator names and token names.
///
/// `^[a-z0-9][a-z0-9._-]{0,63}$`: lowercase letters, digits, `.`, `_` and `-`, starting with a
/// letter or a digit, at most 64 characters. Nothing that matches can forge a log line, an audit
/// row or a topic.
package enum Identifier {
    package static let maxLength = 64
    package static let pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"

    /// Whether `text` is a valid identifier.
    package static func isValid(_ text: String) -> Bool {
        let bytes = text.utf8
        guard let first = bytes.first, bytes.count <= maxLength, isLeading(first) else { return false }
        return bytes.allSatisfy {
            isLeading($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    /// Checks `text` as the identifier named `what` ("agent code", "service code", ...).
    package static func validate(_ text: String, as what: String) throws(IdentifierError) {
        guard isValid(text) else { throw IdentifierError(what: what, value: text) }
    }

    private static func isLeading(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// An identifier that does not match ``Identifier/pattern``; its description is one line, with the
/// offending value escaped and cut.
package struct IdentifierError: Error, Sendable, Hashable, CustomStringConvertible {
    package init(what: String, value: String) {
        self.what = what
        self.value = value
    }

    package var what: String
    package var value: String

    package var description: String {
        "\(what) \(SafeText.quoted(value, limit: 80)) is not a valid identifier: use 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
    }
}
