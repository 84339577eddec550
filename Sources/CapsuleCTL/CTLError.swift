/// A failure `capsulectl` reports as one line on stderr, exiting non-zero.
package struct CTLError: Error, Sendable, Hashable, CustomStringConvertible {
    package var code: String
    package var message: String

    package init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "error: \(message) [\(code)]" }
}
