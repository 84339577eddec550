import CapsuleDaemon
package import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation
import Yams

/// JSON output for scripts: sorted keys, ISO 8601 dates.
package enum JSONOutput {
    package static func render(_ value: some Encodable) -> String {
        encode(value, pretty: true)
    }

    /// One compact JSON value on one line (for streams: `audit --follow -o json`).
    package static func line(_ value: some Encodable) -> String {
        encode(value, pretty: false)
    }

    /// The value as the JSON output has it (dates already text).
    package static func value(_ value: some Encodable) -> JSONValue? {
        try? JSONValue.parse(encode(value, pretty: false))
    }

    private static func encode(_ value: some Encodable, pretty: Bool) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Table.timestamp(date))
        }
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
