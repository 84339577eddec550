import CapsuleDomain
import Foundation

/// One page of a list reply (docs/protocol.md §10, "Paging"). `next` is absent on the last page;
/// pass it back as `cursor` to get the following page.
package struct Page<Item: Codable & Sendable>: Codable, Sendable {
    package var items: [Item]
    package var next: String?

    package init(items: [Item], next: String? = nil) {
        self.items = items
        self.next = next
    }
}

extension Page: Equatable where Item: Equatable {}

/// Opaque page cursors: the sort key of the last item returned, bound to the query that produced
/// it, so a cursor from another query (or a forged one) is refused as `bad_cursor` rather than
/// silently paging something else.
package enum PageCursor {
    /// Largest page any list operation returns, and the default.
    package static let maxLimit = 500
    package static let defaultLimit = 200
    /// A page is closed once its items are estimated to take this many bytes, whatever `limit` says,
    /// so a reply always fits the body cap.
    package static let maxPageBytes = 160 * 1024

    /// The limit to use for a request's `limit` parameter.
    package static func limit(_ requested: Int?) -> Int {
        max(1, min(requested ?? defaultLimit, maxLimit))
    }

    package static func encode(_ key: [String], query: String) -> String {
        let text = ([queryTag(query)] + key).map {
            $0.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "|", with: "%7C")
        }
        .joined(separator: "|")
        return "c1."
            + Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The key parts of a cursor made by ``encode(_:query:)`` for the same query, with `count` parts.
    package static func decode(_ cursor: String, query: String, count: Int) throws(ErrorBody) -> [String] {
        guard cursor.hasPrefix("c1."), cursor.utf8.count <= 1_024 else {
            throw ErrorBody(
                .badCursor,
                "cursor \(SafeText.quoted(cursor, limit: 40)) is not one this server issued; start again without a cursor"
            )
        }
        var base = String(cursor.dropFirst(3)).replacingOccurrences(of: "-", with: "+").replacingOccurrences(
            of: "_",
            with: "/"
        )
        while base.utf8.count % 4 != 0 { base += "=" }
        guard let data = Data(base64Encoded: base), let text = String(data: data, encoding: .utf8) else {
            throw ErrorBody(.badCursor, "cursor is malformed; start again without a cursor")
        }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "%7C", with: "|").replacingOccurrences(of: "%25", with: "%")
        }
        guard parts.count == count + 1 else {
            throw ErrorBody(.badCursor, "cursor is malformed; start again without a cursor")
        }
        guard parts[0] == queryTag(query) else {
            throw ErrorBody(
                .badCursor,
                "cursor belongs to another query (filters changed); start again without a cursor"
            )
        }
        return Array(parts.dropFirst())
    }

    /// A short, stable tag of a query's filters (FNV-1a 32, hex).
    private static func queryTag(_ query: String) -> String {
        var hash: UInt32 = 0x811c_9dc5
        for byte in query.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return String(hash, radix: 16)
    }
}

/// Builds one page from items in sort order: stops at `limit` items or at the byte budget, and
/// sets `next` when items remain.
package struct PageBuilder<Item: Codable & Sendable> {
    package private(set) var items: [Item] = []
    private var bytes = 0
    private let limit: Int
    private let size: (Item) -> Int

    package init(limit: Int, size: @escaping (Item) -> Int) {
        self.limit = limit
        self.size = size
    }

    /// Offers the next item; returns false when the page is full (the item was not taken).
    package mutating func offer(_ item: Item) -> Bool {
        let cost = size(item)
        guard items.count < limit, items.isEmpty || bytes + cost <= PageCursor.maxPageBytes else { return false }
        items.append(item)
        bytes += cost
        return true
    }

    package var isFull: Bool { items.count >= limit }
}
