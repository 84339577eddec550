/// Why a frame set could not be decoded. Decoding never crashes; it throws this.
package struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An extensible error code.
    package struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        package static let truncated = Code(rawValue: "truncated")
        package static let oversized = Code(rawValue: "oversized")
        package static let malformedHeader = Code(rawValue: "malformed_header")
        package static let unsupportedVersion = Code(rawValue: "unsupported_version")
        package static let unknownType = Code(rawValue: "unknown_type")
        package static let malformedBody = Code(rawValue: "malformed_body")
        package static let topicMismatch = Code(rawValue: "topic_mismatch")
    }

    package var code: Code
    package var detail: String

    package init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    package var description: String { "\(code): \(detail)" }
}
