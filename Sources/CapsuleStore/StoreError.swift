/// A storage failure with a stable code.
package struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    package struct Code: RawRepresentable, Sendable, Hashable {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        package static let notFound = Code(rawValue: "not_found")
        package static let conflict = Code(rawValue: "conflict")
        package static let corrupt = Code(rawValue: "corrupt")
    }

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code.rawValue): \(message)" }
}
