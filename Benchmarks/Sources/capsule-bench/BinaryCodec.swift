import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// A compact binary encoding of a heartbeat's header and body, measured beside the JSON the
/// protocol speaks (issue 11: "JSON as today against a binary encoding or a compact binary header,
/// in the same run"). It is not spoken on the wire; `docs/decisions.md` says why.
///
/// Header: a marker byte (0xC1: never the `{` of JSON), the version, the message type's index,
/// `seq` and `ts` as 8 bytes little-endian, then `id` and `sender` as a length byte and UTF-8.
/// Body: `agentId`, `agentCode`, `manifestDigest` (length byte, UTF-8), `intervalSeconds` (8-byte
/// double), `droppedStale` (8 bytes), the service count (2 bytes), and per service its code, status
/// index, `sampledAt` in milliseconds (8 bytes) and an optional message (2-byte length, 0xFFFF for
/// none; details are left out: the sample heartbeat has none).
enum BinaryCodec {
    struct Malformed: Error {}

    private static let marker: UInt8 = 0xC1
    private static let types = MessageType.allCases
    private static let statuses = HealthStatus.allCases

    static func encode(header: Header, body: Heartbeat) -> (header: Data, body: Data) {
        var head = [UInt8]()
        head.reserveCapacity(64)
        head.append(marker)
        head.append(UInt8(header.v))
        head.append(UInt8(types.firstIndex(of: header.type)!))
        append(&head, header.seq)
        append(&head, UInt64(bitPattern: header.ts))
        append(&head, short: header.id)
        append(&head, short: header.sender)
        var out = [UInt8]()
        out.reserveCapacity(128)
        append(&out, short: body.agentId)
        append(&out, short: body.agentCode)
        append(&out, short: body.manifestDigest)
        append(&out, body.intervalSeconds.bitPattern)
        append(&out, UInt64(bitPattern: Int64(body.droppedStale)))
        out.append(UInt8(body.services.count & 0xFF))
        out.append(UInt8(body.services.count >> 8))
        for service in body.services {
            append(&out, short: service.code)
            out.append(UInt8(statuses.firstIndex(of: service.health.status)!))
            append(&out, UInt64(bitPattern: MessageFactory.millis(service.sampledAt)))
            if let message = service.health.message {
                let bytes = Array(message.utf8.prefix(0xFFFE))
                out.append(UInt8(bytes.count & 0xFF))
                out.append(UInt8(bytes.count >> 8))
                out.append(contentsOf: bytes)
            } else {
                out.append(0xFF)
                out.append(0xFF)
            }
        }
        return (Data(head), Data(out))
    }

    static func decode(header data: Data, body: Data) throws -> (Header, Heartbeat) {
        try data.withUnsafeBytes { head in
            try body.withUnsafeBytes { raw in
                var reader = Reader(bytes: head)
                guard try reader.byte() == marker else { throw Malformed() }
                let version = Int(try reader.byte())
                let typeIndex = Int(try reader.byte())
                guard version == WireCodec.version, typeIndex < types.count else { throw Malformed() }
                let seq = try reader.uint64()
                let ts = Int64(bitPattern: try reader.uint64())
                let header = Header(
                    type: types[typeIndex],
                    id: try reader.shortString(),
                    sender: try reader.shortString(),
                    ts: ts,
                    seq: seq
                )
                guard reader.atEnd else { throw Malformed() }
                var body = Reader(bytes: raw)
                let agentId = try body.shortString()
                let agentCode = try body.shortString()
                let digest = try body.shortString()
                let interval = Double(bitPattern: try body.uint64())
                let dropped = Int(Int64(bitPattern: try body.uint64()))
                let count = Int(try body.byte()) | Int(try body.byte()) << 8
                var services: [ServiceHealth] = []
                services.reserveCapacity(count)
                for _ in 0..<count {
                    let code = try body.shortString()
                    let statusIndex = Int(try body.byte())
                    guard statusIndex < statuses.count else { throw Malformed() }
                    let sampled = Int64(bitPattern: try body.uint64())
                    let length = Int(try body.byte()) | Int(try body.byte()) << 8
                    let message = length == 0xFFFF ? nil : try body.string(length)
                    services.append(
                        ServiceHealth(
                            code: code,
                            health: HealthReport(status: statuses[statusIndex], message: message),
                            sampledAt: Date(timeIntervalSince1970: Double(sampled) / 1_000)
                        )
                    )
                }
                guard body.atEnd else { throw Malformed() }
                let heartbeat = Heartbeat(
                    agentId: agentId,
                    agentCode: agentCode,
                    manifestDigest: digest,
                    intervalSeconds: interval,
                    services: services,
                    droppedStale: dropped
                )
                return (header, heartbeat)
            }
        }
    }

    private static func append(_ out: inout [UInt8], _ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    private static func append(_ out: inout [UInt8], short text: String) {
        let bytes = text.utf8.prefix(255)
        out.append(UInt8(bytes.count))
        out.append(contentsOf: bytes)
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        var atEnd: Bool { index == bytes.count }

        mutating func byte() throws -> UInt8 {
            guard index < bytes.count else { throw Malformed() }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func uint64() throws -> UInt64 {
            guard index + 8 <= bytes.count else { throw Malformed() }
            var value: UInt64 = 0
            for offset in 0..<8 { value |= UInt64(bytes[index + offset]) << UInt64(8 * offset) }
            index += 8
            return value
        }

        mutating func shortString() throws -> String { try string(Int(try byte())) }

        mutating func string(_ length: Int) throws -> String {
            guard index + length <= bytes.count,
                let text = String(
                    validating: UnsafeRawBufferPointer(rebasing: bytes[index..<index + length]),
                    as: UTF8.self
                )
            else { throw Malformed() }
            index += length
            return text
        }
    }
}

extension CodecCost {
    /// Microseconds per encode and per decode of the sample heartbeat's header and body in
    /// ``BinaryCodec``, and the two frames' bytes; decoding is checked to give back the same values.
    static func binary(iterations: Int) throws -> (encode: Double, decode: Double, bytes: Int) {
        let sample = sampleHeartbeat()
        var bytes = 0
        var start = monotonic()
        for _ in 0..<iterations { bytes &+= BinaryCodec.encode(header: sample.header, body: sample.body).body.count }
        let encode = (monotonic() - start) / Double(iterations) * 1e6
        let frames = BinaryCodec.encode(header: sample.header, body: sample.body)
        let (header, heartbeat) = try BinaryCodec.decode(header: frames.header, body: frames.body)
        precondition(header == sample.header && heartbeat.agentId == sample.body.agentId, "binary round trip")
        precondition(heartbeat.services.map(\.code) == sample.body.services.map(\.code) && bytes > 0)
        var services = 0
        start = monotonic()
        for _ in 0..<iterations {
            services &+= try BinaryCodec.decode(header: frames.header, body: frames.body).1.services.count
        }
        let decode = (monotonic() - start) / Double(iterations) * 1e6
        precondition(services == iterations)
        return (encode, decode, frames.header.count + frames.body.count)
    }
}
