import Synchronization

/// Header ids: unique per message without a random-device read per message. A random 64-bit prefix
/// drawn once per process and a counter: `4f1a9c2e7b3d5a60-1a`.
package enum MessageID {
    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        let value = String(generator.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - value.count) + value
    }()
    private static let counter = Atomic<UInt64>(0)

    package static func next() -> String {
        prefix + "-" + String(counter.add(1, ordering: .relaxed).newValue, radix: 16)
    }
}
