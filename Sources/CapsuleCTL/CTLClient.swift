import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation

/// The operator's synchronous request client: one CURVE DEALER to the broker's router.
/// Used from `capsulectl`'s main thread only, never from Swift concurrency.
package final class CTLClient {
    private let context = ZMQContext()
    private let socket: ZMQSocket
    private let factory: MessageFactory
    private let endpoint: String
    private let timeout: TimeInterval

    package init(options: CTLOptions) throws {
        let (info, serverKey) = try options.connect.resolveBroker()
        let home = options.connect.capsuleHome
        let keyPair: CurveKeyPair
        var name = options.operatorName
        if let keyFile = options.key {
            keyPair = try KeyFile.read(URL(fileURLWithPath: keyFile))
            name = name ?? KeyFile.operatorName(URL(fileURLWithPath: keyFile))
        } else {
            let file = home.keyFile("operator")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw CTLError(code: "no_key", message: "no operator key at \(file.path); start capsule-broker with this home first or pass --key FILE")
            }
            keyPair = try KeyFile.read(file)
        }
        var socketOptions = ZMQSocketOptions()
        socketOptions.linger = 0
        socketOptions.reconnectInterval = 200
        socketOptions.handshakeInterval = 5_000
        socket = try SocketFactory.client(.dealer, context: context, endpoint: info.router, keyPair: keyPair,
                                          serverKey: serverKey, options: socketOptions)
        factory = MessageFactory(sender: "operator:\(name ?? "local-owner")")
        endpoint = info.router
        timeout = options.timeout
    }

    deinit { socket.close() }

    /// Sends a request and waits for its reply; a structured error from the far end becomes a ``CTLError``.
    package func call(_ service: String, _ op: String, _ params: JSONValue = .object([:])) throws -> JSONValue {
        let header = factory.plain(.request)
        try socket.send(WireCodec.encode(header: header, body: Request(service: service, op: op, params: params)), dontWait: false)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var poller = ZMQPoller()
            poller.add(socket)
            let remaining = max(1, Int(deadline.timeIntervalSinceNow * 1000))
            guard try poller.poll(timeoutMilliseconds: min(remaining, 250)) > 0 else { continue }
            while let message = try socket.receive(maxFrames: 4, maxBytes: 64 << 20) {
                guard let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else { continue }
                if decoded.header.type == .error {
                    let error = (try? decoded.decode(ErrorBody.self)) ?? ErrorBody(code: "unknown", message: "the broker refused the request")
                    if decoded.header.corr == nil || decoded.header.corr == header.id {
                        throw CTLError(code: error.code, message: error.message)
                    }
                }
                guard decoded.header.type == .reply, decoded.header.corr == header.id else { continue }
                let reply = try decoded.decode(Reply.self)
                if let error = reply.error { throw CTLError(code: error.code, message: error.message) }
                return reply.result ?? .null
            }
        }
        throw CTLError(code: "timeout",
                       message: "no answer from the broker at \(endpoint) within \(Int(timeout)) s (is capsule-broker running, and is this key enrolled?)")
    }

    /// Calls and decodes the result as `T`.
    package func call<T: Decodable>(_ type: T.Type, _ service: String, _ op: String, _ params: JSONValue = .object([:])) throws -> T {
        let result = try call(service, op, params)
        do {
            return try WireCodec.fromJSON(T.self, WireCodec.json(result))
        } catch {
            throw CTLError(code: "bad_reply", message: "unexpected reply to \(op): \(error)")
        }
    }
}
