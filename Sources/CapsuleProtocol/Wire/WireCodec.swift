package import CapsuleDomain
package import Foundation

/// A decoded message: optional topic, header and the still-encoded body.
package struct WireMessage: Sendable {
    package var topic: String?
    package var header: Header
    package var body: Data

    /// Decodes the body as `B`; a body that does not match throws ``WireError/Code/malformedBody``.
    /// A ``JSONValueDecodable`` type is read through ``JSONParser`` first; only a body that fails
    /// there goes through `JSONDecoder`, which says what is wrong.
    package func decode<B: Decodable>(_ type: B.Type) throws(WireError) -> B {
        if let fast = B.self as? any JSONValueDecodable.Type, let members = try? JSONParser.members(body),
            let value = try? fast.init(fields: members) as? B
        {
            return value
        }
        return try decodeThroughFoundation(B.self)
    }

    /// ``decode(_:)`` for a type known at the call to read itself (the heartbeat path): no dynamic
    /// cast per message, nor the runtime's generic-metadata lookups it costs (seen in a profile of
    /// the aggregator's loop thread).
    package func decode<B: Decodable & JSONValueDecodable>(_ type: B.Type) throws(WireError) -> B {
        if let members = try? JSONParser.members(body), let value = try? B(fields: members) { return value }
        return try decodeThroughFoundation(B.self)
    }

    /// The body as a heartbeat: read in its usual shape without building dictionaries
    /// (``Heartbeat/read(_:)``), and through ``decode(_:)`` otherwise, which accepts or refuses it.
    package func heartbeat() throws(WireError) -> Heartbeat {
        if let heartbeat = Heartbeat.read(body) { return heartbeat }
        return try decode(Heartbeat.self)
    }

    private func decodeThroughFoundation<B: Decodable>(_: B.Type) throws(WireError) -> B {
        do {
            return try WireCodec.decoder.decode(B.self, from: body)
        } catch {
            throw WireError(.malformedBody, "\(header.type.rawValue) body: \(WireCodec.summary(error))")
        }
    }

    /// Decodes a reply whose result is `R`; a successful one member by member when `R` is
    /// ``ShapeReadable`` (``readSuccess(_:_:)``), else through ``JSONParser`` when `R` is
    /// ``JSONValueDecodable``; anything else through `JSONDecoder`.
    package func decodeReply<R: Decodable>(_: R.Type) throws(WireError) -> TypedReply<R> {
        if let shaped = R.self as? any ShapeReadable.Type, let result = Self.readSuccess(body, shaped) as? R {
            return TypedReply(result: result)
        }
        if let fast = R.self as? any JSONValueDecodable.Type {
            let result: R?
            do {
                let json = try JSONParser.parse(body)
                result =
                    json.member("ok") == .bool(true)
                    ? try json.member("result").map { try fast.init(fields: $0) } as? R : nil
            } catch {
                throw WireError(.malformedBody, "\(header.type.rawValue) body: \(error)")
            }
            if let result { return TypedReply(result: result) }
        }
        return try decode(TypedReply<R>.self)
    }
}

extension WireMessage {
    /// A successful reply's result read member by member: `{"ok": true, "result": …}`, each once, in
    /// either order. Nil for any other body (an error, another member, text the reading declines),
    /// which ``decodeReply(_:)`` then reads in full.
    package static func readSuccess(_ body: Data, _ type: any ShapeReadable.Type) -> (any ShapeReadable)? {
        JSONParser.Reader.read(body) { reader in
            var ok = false
            var result: (any ShapeReadable)?
            try reader.object { name, reader in
                switch name {
                case "ok" where !ok:
                    guard try reader.bool() else { throw ShapeReadingDeclined() }
                    ok = true
                case "result" where result == nil: result = try type.init(reading: &reader)
                default: throw ShapeReadingDeclined()
                }
            }
            guard ok, let result else { throw ShapeReadingDeclined() }
            return result
        }
    }
}

/// Encodes and decodes Capsule's frames: `[topic] header body`, both JSON (docs/protocol.md).
package enum WireCodec {
    package static let version = 1
    package static let maxHeaderBytes = 4 * 1024
    package static let maxBodyBytes = 256 * 1024
    package static let maxTopicBytes = 256

    package static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    package static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()

    /// Encodes a message as frames. Pass a `topic` for PUB/SUB streams, none for DEALER/ROUTER.
    package static func encode(topic: String? = nil, header: Header, body: some Encodable) -> [Data] {
        var frames: [Data] = []
        if let topic { frames.append(Data(topic.utf8)) }
        frames.append(header.jsonData)
        frames.append(json(body))
        return frames
    }

    /// Encodes a message whose body writes its own JSON (``JSONWritable``): no `JSONEncoder` on the path.
    package static func encode(topic: String? = nil, header: Header, body: some JSONWritable) -> [Data] {
        var frames: [Data] = []
        if let topic { frames.append(Data(topic.utf8)) }
        frames.append(header.jsonData)
        frames.append(body.jsonData)
        return frames
    }

    /// Decodes frames received on a socket. `hasTopic` is true on PUB/SUB streams.
    package static func decode(_ frames: [Data], hasTopic: Bool) throws(WireError) -> WireMessage {
        let expected = hasTopic ? 3 : 2
        guard frames.count >= expected else {
            throw WireError(.truncated, "expected \(expected) frames, got \(frames.count)")
        }
        guard frames.count == expected else {
            throw WireError(.malformedHeader, "expected \(expected) frames, got \(frames.count)")
        }
        var topic: String?
        if hasTopic {
            guard frames[0].count <= maxTopicBytes else {
                throw WireError(.oversized, "topic of \(frames[0].count) bytes")
            }
            guard let text = String(data: frames[0], encoding: .utf8) else {
                throw WireError(.malformedHeader, "topic is not UTF-8")
            }
            topic = text
        }
        let headerData = frames[expected - 2]
        let body = frames[expected - 1]
        guard headerData.count <= maxHeaderBytes else {
            throw WireError(.oversized, "header of \(headerData.count) bytes")
        }
        guard body.count <= maxBodyBytes else { throw WireError(.oversized, "body of \(body.count) bytes") }
        let header = try decodeHeader(headerData)
        return WireMessage(topic: topic, header: header, body: body)
    }

    private struct RawHeader: Decodable {
        var v: Int
        var type: String
    }

    /// One decode on the happy path; only a header that fails is decoded again, field by field, to
    /// say whether its version, its type or its shape is wrong.
    package static func decodeHeader(_ data: Data) throws(WireError) -> Header {
        if let header = HeaderScanner.scan(data), header.v == version { return header }
        if let members = try? JSONParser.members(data), let header = try? Header(fields: members), header.v == version {
            return header
        }
        let raw: RawHeader
        do {
            raw = try decoder.decode(RawHeader.self, from: data)
        } catch {
            throw WireError(.malformedHeader, summary(error))
        }
        guard raw.v == version else {
            throw WireError(.unsupportedVersion, "version \(raw.v), this build speaks \(version)")
        }
        guard MessageType(rawValue: raw.type) != nil else {
            throw WireError(.unknownType, "type \"\(SafeText.clean(String(raw.type.prefix(64)), limit: 64))\"")
        }
        do {
            return try decoder.decode(Header.self, from: data)
        } catch {
            throw WireError(.malformedHeader, summary(error))
        }
    }

    /// Encodes a value to JSON with the protocol's conventions (dates as epoch milliseconds).
    /// A value that writes its own JSON (``JSONWritable``) does so even when known here only as
    /// `Encodable` (a generic reply's result); encoding our own types cannot fail otherwise.
    package static func json(_ value: some Encodable) -> Data {
        if let writable = value as? any JSONWritable { return writable.jsonData }
        return try! encoder.encode(value)
    }

    /// The JSON of a value that writes its own (``JSONWritable``), as ``json(_:)`` would give it.
    package static func json(_ value: some JSONWritable) -> Data { value.jsonData }

    /// Decodes a value from JSON with the protocol's conventions.
    /// A ``JSONValue`` is read by ``JSONParser``, which reads what `JSONDecoder` reads at a fraction
    /// of the cost (a stored command's payload and result, on every command).
    package static func fromJSON<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        if T.self == JSONValue.self { return try JSONParser.parse(data) as! T }
        return try decoder.decode(T.self, from: data)
    }

    static func summary(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing field \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath))"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "invalid value at \(path(context.codingPath))"
        default:
            return "undecodable"
        }
    }

    /// `$.services[0].health`, the same notation as schema violations.
    private static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce("$") { path, key in key.intValue.map { "\(path)[\($0)]" } ?? "\(path).\(key.stringValue)" }
    }
}
