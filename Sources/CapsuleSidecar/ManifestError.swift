/// Why a manifest file was refused: the file, the field (a path such as `actions[1].argv`) and the reason.
package struct ManifestError: Error, Sendable, Hashable, CustomStringConvertible {
    package var file: String
    package var field: String
    package var reason: String

    package init(file: String, field: String, reason: String) {
        self.file = file
        self.field = field
        self.reason = reason
    }

    package var description: String { "\(file): \(field): \(reason)" }
}

/// Several problems in one manifest, one per line.
package struct ManifestErrors: Error, Sendable, Hashable, CustomStringConvertible {
    package var errors: [ManifestError]

    package init(errors: [ManifestError]) { self.errors = errors }

    package var description: String { errors.map(\.description).joined(separator: "\n") }
}
