import Foundation

/// A stable digest of a set of manifests, carried in every heartbeat so a lost report is noticed.
/// FNV-1a 64 over the canonical JSON: it detects change, it is not a security hash.
public enum ManifestDigest {
    public static func of(_ manifests: [ServiceManifest]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(manifests.sorted { $0.code < $1.code })) ?? Data()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
