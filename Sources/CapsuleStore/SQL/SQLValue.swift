package import Foundation

/// A value as both store backends hold it: SQLite's storage classes, which PostgreSQL's column types
/// (`BIGINT`, `DOUBLE PRECISION`, `TEXT`, `BYTEA`) map onto one to one. Booleans are integers 0/1.
package enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// A Swift type stored in one SQL value.
package protocol SQLValueConvertible {
    var sqlValue: SQLValue { get }
    /// Nil when the stored value has another type (or is NULL for a non-optional type).
    static func fromSQL(_ value: SQLValue) -> Self?
}

extension String: SQLValueConvertible {
    package var sqlValue: SQLValue { .text(self) }
    package static func fromSQL(_ value: SQLValue) -> String? {
        switch value {
        case .text(let text): text
        case .integer(let number): String(number)
        case .real(let number): String(number)
        case .blob(let data): String(decoding: data, as: UTF8.self)
        case .null: nil
        }
    }
}

extension Int64: SQLValueConvertible {
    package var sqlValue: SQLValue { .integer(self) }
    package static func fromSQL(_ value: SQLValue) -> Int64? {
        switch value {
        case .integer(let number): number
        case .real(let number): Int64(exactly: number.rounded(.towardZero))
        case .text(let text): Int64(text)
        case .null, .blob: nil
        }
    }
}

extension Int: SQLValueConvertible {
    package var sqlValue: SQLValue { .integer(Int64(self)) }
    package static func fromSQL(_ value: SQLValue) -> Int? { Int64.fromSQL(value).map { Int($0) } }
}

extension UInt64: SQLValueConvertible {
    package var sqlValue: SQLValue { .integer(Int64(clamping: self)) }
    package static func fromSQL(_ value: SQLValue) -> UInt64? { Int64.fromSQL(value).flatMap { UInt64(exactly: $0) } }
}

extension Double: SQLValueConvertible {
    package var sqlValue: SQLValue { .real(self) }
    package static func fromSQL(_ value: SQLValue) -> Double? {
        switch value {
        case .real(let number): number
        case .integer(let number): Double(number)
        case .text(let text): Double(text)
        case .null, .blob: nil
        }
    }
}

extension Bool: SQLValueConvertible {
    package var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    package static func fromSQL(_ value: SQLValue) -> Bool? { Int64.fromSQL(value).map { $0 != 0 } }
}

extension Data: SQLValueConvertible {
    package var sqlValue: SQLValue { .blob(self) }
    package static func fromSQL(_ value: SQLValue) -> Data? {
        switch value {
        case .blob(let data): data
        case .text(let text): Data(text.utf8)
        case .null, .integer, .real: nil
        }
    }
}

extension SQLValue: SQLValueConvertible {
    package var sqlValue: SQLValue { self }
    package static func fromSQL(_ value: SQLValue) -> SQLValue? { value }
}

/// Statement arguments, written as an array literal of optional values (`[id, nil, now.storeValue]`).
package struct SQLArguments: Sendable, Hashable, ExpressibleByArrayLiteral {
    package var values: [SQLValue]

    package init(_ values: [SQLValue]) { self.values = values }
    package init(_ values: [(any SQLValueConvertible)?]) { self.values = values.map { $0?.sqlValue ?? .null } }
    package init(arrayLiteral elements: (any SQLValueConvertible)?...) { self.init(elements) }

    package static func + (lhs: SQLArguments, rhs: SQLArguments) -> SQLArguments {
        SQLArguments(lhs.values + rhs.values)
    }
    package mutating func append(_ value: (any SQLValueConvertible)?) { values.append(value?.sqlValue ?? .null) }
}
