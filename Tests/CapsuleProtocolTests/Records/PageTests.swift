import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

struct PageCursorTests {
    @Test(arguments: [
        ["1700000000000", "cmd_0123456789abcdef"],
        ["", ""],
        ["a|b", "100%", "%7C literally", "|%|"],
        ["émoji 🚀", "new\nline"],
    ])
    func aCursorRoundTripsItsKey(_ key: [String]) throws {
        let cursor = PageCursor.encode(key, query: "status=PENDING")
        #expect(cursor.hasPrefix("c1."))
        #expect(!cursor.contains("+") && !cursor.contains("/") && !cursor.contains("="), "URL- and shell-safe")
        #expect(try PageCursor.decode(cursor, query: "status=PENDING", count: key.count) == key)
    }

    @Test func aCursorFromAnotherQueryIsRefused() throws {
        let cursor = PageCursor.encode(["1", "cmd_a"], query: "PENDING||")
        let error = try #require(throws: ErrorBody.self) { try PageCursor.decode(cursor, query: "RUNNING||", count: 2) }
        #expect(error.code == .badCursor)
        #expect(error.message.contains("another query"))
    }

    @Test func aCursorWithAnotherShapeIsRefused() throws {
        let cursor = PageCursor.encode(["1", "cmd_a"], query: "q")
        let error = try #require(throws: ErrorBody.self) { try PageCursor.decode(cursor, query: "q", count: 3) }
        #expect(error.code == .badCursor)
    }

    @Test(arguments: [
        "", "garbage", "c2.AAAA", "c1.", "c1.!!!!", "c1.////", "C1.abc", "c1." + String(repeating: "A", count: 2_000),
        "c1." + Data([0xff, 0xfe, 0xfd]).base64EncodedString(),
    ])
    func garbageIsABadCursor(_ cursor: String) throws {
        let error = try #require(throws: ErrorBody.self) { try PageCursor.decode(cursor, query: "q", count: 2) }
        #expect(error.code == .badCursor)
        #expect(error.message.utf8.count < 200, "a hostile cursor is not echoed whole")
        #expect(!error.message.contains("\n"))
    }

    @Test(
        arguments: [(nil, 200), (0, 1), (-5, 1), (1, 1), (50, 50), (500, 500), (501, 500), (Int.max, 500)]
            as [(Int?, Int)]
    )
    func limitsAreClamped(requested: Int?, limit: Int) {
        #expect(PageCursor.limit(requested) == limit)
    }
}

struct PageBuilderTests {
    @Test func aPageStopsAtItsLimit() {
        var builder = PageBuilder<Int>(limit: 3) { _ in 10 }
        let taken = [1, 2, 3, 4].map { builder.offer($0) }
        #expect(taken == [true, true, true, false])
        #expect(builder.isFull)
        #expect(builder.items == [1, 2, 3])
    }

    @Test func aPageIsNotFullBelowItsLimit() {
        var builder = PageBuilder<Int>(limit: 3) { _ in 10 }
        _ = builder.offer(1)
        #expect(!builder.isFull)
    }

    @Test func aPageStopsAtItsByteBudgetWhateverTheLimit() {
        let size = 50 * 1024
        var builder = PageBuilder<Int>(limit: 1_000) { _ in size }
        var taken = 0
        for item in 0..<100 where builder.offer(item) { taken += 1 }
        #expect(taken == PageCursor.maxPageBytes / size)
        #expect(builder.items.count * size <= PageCursor.maxPageBytes)
        #expect(!builder.isFull, "closed by bytes, not by count")
    }

    @Test func anItemThatDoesNotFitIsNotTakenButASmallerOneStillIs() {
        var builder = PageBuilder<Int>(limit: 10) { $0 }
        let taken = [PageCursor.maxPageBytes - 100, 200, 100].map { builder.offer($0) }
        #expect(taken == [true, false, true], "the budget is exact")
        #expect(builder.items.count == 2)
    }

    @Test func theFirstItemIsTakenEvenOverTheBudget() {
        var builder = PageBuilder<Int>(limit: 10) { $0 }
        let taken = [PageCursor.maxPageBytes * 2, 1].map { builder.offer($0) }
        #expect(taken == [true, false], "a page always holds at least one item")
    }

    @Test func aLastPageHasNoNext() throws {
        let text = String(decoding: WireCodec.json(Page(items: [1, 2])), as: UTF8.self)
        #expect(text == #"{"items":[1,2]}"#)
        let decoded = try WireCodec.fromJSON(Page<Int>.self, WireCodec.json(Page(items: [3], next: "c1.x")))
        #expect(decoded == Page(items: [3], next: "c1.x"))
    }
}
