import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation
import Yams

/// A table whose columns may be shown only with `-o wide`.
package struct TableView<Row> {
    package struct Column {
        var header: String
        var wideOnly: Bool
        var value: (Row) -> String
    }

    package var columns: [Column] = []

    package init() {}

    package func column(_ header: String, wide: Bool = false, _ value: @escaping (Row) -> String) -> TableView {
        var copy = self
        copy.columns.append(Column(header: header, wideOnly: wide, value: value))
        return copy
    }

    package func render(_ rows: [Row], wide: Bool, headers: Bool = true) -> String {
        let shown = columns.filter { wide || !$0.wideOnly }
        return Table.render(shown.map(\.header), rows.map { row in shown.map { $0.value(row) } }, headers: headers)
    }
}
