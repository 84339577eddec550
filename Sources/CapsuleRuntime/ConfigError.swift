/// A configuration problem: which file, which key, and why.
package struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    package var file: String
    package var key: String?
    package var reason: String

    package init(file: String, key: String?, reason: String) {
        self.file = file
        self.key = key
        self.reason = reason
    }

    package var description: String {
        if let key { return "\(file): \(key): \(reason)" }
        return "\(file): \(reason)"
    }
}
