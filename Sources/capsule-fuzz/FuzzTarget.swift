import CapsuleBroker
import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation

/// One fuzz input: the first byte picks how many frames follow (1…4); each frame is a 2-byte
/// little-endian length and that many bytes. Everything left over goes in the last frame.
enum FuzzInput {
    static func frames(_ bytes: [UInt8]) -> [Data] {
        guard let first = bytes.first else { return [] }
        let count = Int(first % 4) + 1
        var frames: [Data] = []
        var index = 1
        for frame in 0..<count {
            if frame == count - 1 || index + 2 > bytes.count {
                frames.append(Data(bytes[min(index, bytes.count)...]))
                break
            }
            let length = Int(bytes[index]) | Int(bytes[index + 1]) << 8
            index += 2
            let end = min(bytes.count, index + length)
            frames.append(Data(bytes[index..<end]))
            index = end
        }
        return frames
    }

    static let agent = Principal(
        publicKey: String(repeating: "A", count: 40),
        kind: .agent,
        identity: "agt_fuzz",
        createdAt: Date(timeIntervalSince1970: 0)
    )
    static let service = Principal(
        publicKey: String(repeating: "B", count: 40),
        kind: .service,
        identity: "aggregator",
        createdAt: Date(timeIntervalSince1970: 0)
    )
    static let owners = ["svc-owned": "agt_other", "svc-mine": "agt_fuzz"]

    /// The inverse of ``frames(_:)``, for writing seed inputs.
    static func encode(_ frames: [Data]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(frames.count - 1)]
        for (index, frame) in frames.enumerated() {
            if index < frames.count - 1 {
                bytes += [UInt8(frame.count & 0xff), UInt8(frame.count >> 8)]
            }
            bytes += frame
        }
        return bytes
    }

    /// One valid message of every kind the broker accepts, as seeds.
    static func seeds() -> [String: [UInt8]] {
        let at = Date(timeIntervalSince1970: 1_700_000_000)
        func header(_ type: MessageType, sender: String = "agt_fuzz") -> Header {
            Header(type: type, id: "id-\(type.rawValue)", sender: sender, ts: 1_700_000_000_000, seq: 1)
        }
        let health = [
            ServiceHealth(
                code: "svc-mine",
                health: HealthReport(status: .up, message: "ok", details: .object(["token": .string("x")])),
                sampledAt: at
            )
        ]
        let manifest = ServiceManifest(
            code: "svc-mine",
            name: "Mine",
            version: "1",
            runtime: "swift",
            configs: [ConfigItem(key: "k", value: .string("v"))],
            actions: [ActionDefinition(name: "go", inputSchema: .object(["type": .string("object")]))]
        )
        let event = AuditEvent(
            publisher: "aggregator",
            seq: 1,
            at: at,
            action: "service.transition",
            subject: "service:svc-mine",
            actor: "system",
            from: "UNKNOWN",
            to: "HEALTHY",
            reason: "health UP"
        )
        return [
            "heartbeat": encode(
                WireCodec.encode(
                    topic: Topic.heartbeat("agt_fuzz"),
                    header: header(.heartbeat),
                    body: Heartbeat(
                        agentId: "agt_fuzz",
                        agentCode: "fuzz",
                        manifestDigest: "0",
                        intervalSeconds: 30,
                        services: health
                    )
                )
            ),
            "health": encode(
                WireCodec.encode(
                    topic: Topic.health("agt_fuzz"),
                    header: header(.health),
                    body: HealthUpdate(agentId: "agt_fuzz", services: health)
                )
            ),
            "report": encode(
                WireCodec.encode(
                    topic: Topic.report("agt_fuzz"),
                    header: header(.serviceReport),
                    body: ServiceReport(agentId: "agt_fuzz", agentCode: "fuzz", services: [manifest])
                )
            ),
            "event": encode(
                WireCodec.encode(
                    topic: Topic.event("service.transition"),
                    header: header(.event, sender: "aggregator"),
                    body: event
                )
            ),
            "beacon": encode(
                WireCodec.encode(
                    topic: Topic.beacon("aggregator"),
                    header: header(.beacon, sender: "aggregator"),
                    body: Beacon(publisher: "aggregator", lastSeq: 9)
                )
            ),
            "hello": encode(
                WireCodec.encode(
                    header: header(.agentHello),
                    body: AgentHello(
                        agentCode: "fuzz",
                        services: ["svc-mine"],
                        manifestDigest: "0",
                        software: "x",
                        enrollmentToken: "cap_x"
                    )
                )
            ),
            "result": encode(
                WireCodec.encode(
                    header: header(.commandResult),
                    body: CommandResult(commandId: "cmd_1", success: false, error: ErrorBody(.internal, "m"))
                )
            ),
            "request": encode(
                WireCodec.encode(
                    header: header(.request),
                    body: Request(
                        service: "broker",
                        op: "command.create",
                        params: .object([
                            "schema": .object(["type": .string("object"), "required": .array([.string("a")])]),
                            "a": .number(1),
                        ])
                    )
                )
            ),
        ]
    }

    /// Runs the wire decoder and the broker's ingest checks on one input. Must never crash.
    static func run(_ bytes: [UInt8]) {
        let frames = frames(bytes)
        // The broker's ingest path, as an agent and as an internal service.
        _ = IngestGate.check(frames: frames, principal: agent)
        _ = IngestGate.check(frames: frames, principal: service)
        // The router path: header and body of every request-reply type.
        if let message = try? WireCodec.decode(frames, hasTopic: false) {
            switch message.header.type {
            case .agentHello: _ = try? message.decode(AgentHello.self)
            case .commandResult: _ = try? message.decode(CommandResult.self)
            case .commandAck, .commandCancel: _ = try? message.decode(CommandRef.self)
            case .request:
                if let request = try? message.decode(Request.self), let schema = request.params["schema"] {
                    try? JSONSchemaValidator.validate(request.params, against: schema)
                }
            case .reply:
                _ = try? message.decode(Reply.self)
                _ = try? message.decodeReply(JournalPage.self)
            case .workerReady: _ = try? message.decode(WorkerReady.self)
            case .reportRequest: _ = try? message.decode(ReportRequest.self)
            default: break
            }
        }
        // JSONParser against JSONDecoder: what both read, they read alike.
        let data = Data(bytes)
        if let fast = try? JSONParser.parse(data),
            let reference = try? WireCodec.decoder.decode(JSONValue.self, from: data)
        {
            precondition(fast == reference, "JSONParser and JSONDecoder read \(bytes) differently")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        if let value = try? JSONValue.parse(text) {
            _ = Redactor.redact(value)
            _ = SafeText.clean(value)
            var event = AuditEvent(
                publisher: "broker",
                seq: 1,
                at: Date(),
                action: text,
                subject: text,
                actor: text,
                reason: text,
                details: value
            )
            event.bound()
        }
        // Identifiers, free text and page cursors come straight from peers.
        _ = Identifier.isValid(text)
        _ = SafeText.clean(text, limit: 64)
        _ = try? PageCursor.decode(text, query: "", count: 1)
        _ = try? PageCursor.decode(text, query: "x", count: 2)
    }
}

#if FUZZING
typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// libFuzzer's driver entry point (compiler-rt, LLVM 11+): runs the fuzzing loop with `callback`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: FuzzCallback
) -> CInt

/// Built with `-sanitize=fuzzer -DFUZZING`: hands control to libFuzzer (Fuzz/README.md).
@main
struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            guard let data else { return 0 }
            FuzzInput.run(Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        }
        exit(status)
    }
}
#else
/// Without libFuzzer: replays corpus files, then deterministic mutations of them, through the same
/// checks. `capsule-fuzz [--mutations N] FILE|DIR…`
@main
struct FuzzReplay {
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let index = arguments.firstIndex(of: "--write-corpus"), index + 1 < arguments.count {
            let directory = arguments[index + 1]
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (name, bytes) in FuzzInput.seeds() {
                _ = FileManager.default.createFile(atPath: "\(directory)/\(name).bin", contents: Data(bytes))
            }
            print("wrote \(FuzzInput.seeds().count) seeds to \(directory)")
            return
        }
        var mutations = 0
        if let index = arguments.firstIndex(of: "--mutations"), index + 1 < arguments.count {
            mutations = Int(arguments[index + 1]) ?? 0
            arguments.removeSubrange(index...(index + 1))
        }
        var inputs: [[UInt8]] = []
        for path in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files =
                isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                if let data = FileManager.default.contents(atPath: file) { inputs.append([UInt8](data)) }
            }
        }
        for input in inputs { FuzzInput.run(input) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var runs = inputs.count
        for _ in 0..<mutations where !inputs.isEmpty {
            var input = inputs[Int(next() % UInt64(inputs.count))]
            for _ in 0..<Int(next() % 8 + 1) {
                let position = input.isEmpty ? 0 : Int(next() % UInt64(input.count))
                switch next() % 4 {
                case 0 where !input.isEmpty: input[position] = UInt8(truncatingIfNeeded: next())
                case 1: input.insert(UInt8(truncatingIfNeeded: next()), at: position)
                case 2 where !input.isEmpty: input.remove(at: position)
                default: input += input.prefix(Int(next() % 16))
                }
            }
            FuzzInput.run(input)
            runs += 1
        }
        print("capsule-fuzz replay: \(runs) inputs (\(inputs.count) corpus files, \(mutations) mutations), no crash")
    }
}
#endif
