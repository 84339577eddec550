import Foundation

/// One result row. Columns are found by name regardless of case: PostgreSQL folds unquoted names
/// to lower case, SQLite keeps them as declared, and the stores' SQL is the same for both.
package struct SQLRow: Sendable {
    package var names: [String]
    package var values: [SQLValue]

    package init(names: [String], values: [SQLValue]) {
        self.names = names.map { $0.lowercased() }
        self.values = values
    }

    package func value(_ name: String) -> SQLValue {
        let key = name.lowercased()
        guard let index = names.firstIndex(of: key) else { return .null }
        return values[index]
    }

    package subscript(_ index: Int) -> SQLValue { index < values.count ? values[index] : .null }

    /// A non-optional column; a NULL or mistyped value reads as the type's zero, like GRDB's rows.
    package subscript<T: SQLValueConvertible>(_ name: String) -> T {
        if let value = T.fromSQL(value(name)) { return value }
        return Self.zero(T.self)
    }

    package subscript<T: SQLValueConvertible>(_ name: String) -> T? { T.fromSQL(value(name)) }

    private static func zero<T: SQLValueConvertible>(_: T.Type) -> T {
        for candidate in [SQLValue.integer(0), .real(0), .text(""), .blob(Data())] {
            if let value = T.fromSQL(candidate) { return value }
        }
        fatalError("no zero value for \(T.self)")
    }
}
