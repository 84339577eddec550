package import CapsuleDomain
package import CapsuleProtocol
package import CapsuleZMQ
package import Foundation

/// A synchronous request client: one CURVE DEALER to the broker's router, sending Majordomo-style
/// `request`s and waiting for their `reply`. It blocks, so it belongs on a thread of its own (a CLI's
/// main thread, a benchmark driver), never on Swift concurrency's pool.
///
/// Given the routers of a broker pair, it sends only once connected to one, moves to the next when
/// one cannot be reached within ``BrokerFailover/patience``, and sends a request again to the
/// active broker when the one it reached answers that it is the standby (a standby never acts on
/// a request, so nothing runs twice).
package final class RequestClient {
    private let context = ZMQContext()
    private let socket: ZMQSocket
    private let monitor: ZMQMonitor?
    private let factory: MessageFactory
    private var failover: BrokerFailover
    private let timeout: TimeInterval
    private var endpoint: String { failover.current }
    /// With a connect check: what the socket's monitor has seen so far.
    private let connectCheck: ConnectCheck?
    private var link = LinkState()

    /// How long a client waits for the broker before it says why it cannot reach it: no TCP
    /// connection at all (nothing listens there) within `connect`, or no CURVE handshake (a wrong
    /// broker key, a peer that is not a broker) within `handshake`. A key the broker's ZAP refuses
    /// (a removed operator's) fails at once. With a broker pair, an unreachable broker is passed
    /// over instead (``BrokerFailover``) and only the request's timeout bounds the wait.
    package struct ConnectCheck: Sendable, Hashable {
        package var connect: TimeInterval
        package var handshake: TimeInterval
        package init(connect: TimeInterval = 1, handshake: TimeInterval = 3) {
            self.connect = connect
            self.handshake = handshake
        }
    }

    private struct LinkState {
        var connected = false
        var handshaken = false
        /// ZAP's status when it refused the key (400, or 300 for "try later").
        var refusedStatus: UInt32?
        var handshakeFailed = false
    }

    /// - Parameters:
    ///   - sender: the identity the key is enrolled as, e.g. `operator:local-owner`.
    ///   - connectCheck: fail fast, with the reason, when the broker cannot be reached (see ``ConnectCheck``).
    ///   - routers: the routers of a broker pair, to fail over between (`endpoint` when nil).
    package init(
        endpoint: String,
        keyPair: CurveKeyPair,
        serverKey: CurveKey,
        sender: String,
        timeout: TimeInterval = 10,
        connectCheck: ConnectCheck? = nil,
        routers: [String]? = nil
    ) throws {
        var options = ZMQSocketOptions()
        options.linger = 0
        options.reconnectInterval = 200
        options.handshakeInterval = 5_000
        failover = BrokerFailover(routers: routers ?? [endpoint])
        let link = try SocketFactory.monitoredClient(
            .dealer,
            context: context,
            endpoint: failover.current,
            keyPair: keyPair,
            serverKey: serverKey,
            options: options,
            monitored: failover.isPair || connectCheck != nil
        )
        socket = link.socket
        monitor = link.monitor
        factory = MessageFactory(sender: sender)
        self.timeout = timeout
        self.connectCheck = connectCheck
    }

    deinit {
        monitor?.socket.close()
        socket.close()
    }

    /// The broker router this client talks to now.
    package var router: String { failover.current }

    /// Reads waiting monitor events into ``link`` and the failover state.
    private func readMonitor() {
        guard let monitor else { return }
        while let event = try? monitor.next() {
            switch event.kind {
            case .connected: link.connected = true
            case .handshakeSucceeded:
                link.handshaken = true
                failover.connected(now: Date(), endpoint: event.endpoint)
            case .disconnected:
                link.handshaken = false
                failover.disconnected(now: Date(), endpoint: event.endpoint)
            case .handshakeFailedAuth: link.refusedStatus = event.value
            case .handshakeFailedProtocol, .handshakeFailedNoDetail: link.handshakeFailed = true
            default: break
            }
        }
    }

    private func move(from previous: String, to next: String) {
        try? socket.disconnect(previous)
        try? socket.connect(next)
        link = LinkState()
    }

    /// With a pair: waits until connected to a broker, moving on from unreachable ones.
    private func connect(before deadline: Date) throws {
        guard let monitor else { return }
        var poller = ZMQPoller()
        poller.add(monitor.socket)
        while true {
            readMonitor()
            if failover.isConnected { return }
            guard Date() < deadline else {
                throw ErrorBody(
                    code: "timeout",
                    message: "no broker of the pair could be reached (\(failover.routers.joined(separator: ", ")))"
                )
            }
            let previous = failover.current
            if let next = failover.tick(now: Date()) { move(from: previous, to: next) }
            _ = try? poller.poll(timeoutMilliseconds: 50)
        }
    }

    /// One broker: waits until the CURVE handshake has succeeded, or throws why it cannot.
    private func awaitHandshake() throws {
        guard let connectCheck, let monitor, !link.handshaken else { return }
        let started = Date()
        var poller = ZMQPoller()
        poller.add(monitor.socket)
        while true {
            readMonitor()
            if link.handshaken { return }
            if let status = link.refusedStatus {
                throw ErrorBody(
                    .keyRevoked,
                    status == 300
                        ? "the broker at \(endpoint) does not accept this key yet (ZAP 300); try again shortly"
                        : "the broker at \(endpoint) refused this key (ZAP \(status)): it was revoked, e.g. the operator was removed; ask an owner for a new key (capsulectl operator add)"
                )
            }
            let waited = Date().timeIntervalSince(started)
            if !link.connected && waited >= connectCheck.connect {
                throw ErrorBody(
                    .unreachable,
                    "cannot reach the broker at \(endpoint): no connection within \(Self.seconds(connectCheck.connect)) (is capsule-broker running there, and is the address right?)"
                )
            }
            if waited >= connectCheck.connect + connectCheck.handshake
                || (link.handshakeFailed && waited >= connectCheck.connect)
            {
                throw ErrorBody(
                    .unreachable,
                    "connected to \(endpoint) but the CURVE handshake did not complete (is --broker-key the broker's public key, and is a Capsule broker listening there?)"
                )
            }
            _ = try? poller.poll(timeoutMilliseconds: 50)
        }
    }

    private static func seconds(_ value: TimeInterval) -> String {
        value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }

    /// Sends a request and decodes its result as `T`. A structured error from the far end, a reply
    /// that does not decode, or no answer in time is thrown as an ``ErrorBody``.
    package func call<T: Decodable>(
        _ type: T.Type,
        _ service: String,
        _ op: String,
        _ params: JSONValue = .object([:]),
        timeout: TimeInterval? = nil
    ) throws -> T {
        try send(Request(service: service, op: op, params: params), as: T.self, op: op, timeout: timeout)
    }

    private func send<T: Decodable>(
        _ body: some Encodable,
        as type: T.Type,
        op: String,
        timeout: TimeInterval?
    ) throws -> T {
        var resends = 0
        while true {
            do {
                return try sendOnce(body, as: type, op: op, timeout: timeout)
            } catch let error as ErrorBody where error.code == .standby && resends < 2 * failover.routers.count {
                let previous = failover.current
                guard let next = failover.refused(error, now: Date()) else { throw error }
                move(from: previous, to: next)
                resends += 1
            }
        }
    }

    private func sendOnce<T: Decodable>(
        _ body: some Encodable,
        as type: T.Type,
        op: String,
        timeout: TimeInterval?
    ) throws -> T {
        let deadline = Date().addingTimeInterval(timeout ?? self.timeout)
        if failover.isPair { try connect(before: deadline) } else { try awaitHandshake() }
        let header = factory.plain(.request)
        try socket.send(WireCodec.encode(header: header, body: body), dontWait: false)
        var poller = ZMQPoller()
        poller.add(socket)
        if let monitor { poller.add(monitor.socket) }
        while Date() < deadline {
            let remaining = max(1, Int(deadline.timeIntervalSinceNow * 1000))
            guard try poller.poll(timeoutMilliseconds: min(remaining, 250)) > 0 else { continue }
            readMonitor()
            if let status = link.refusedStatus, status != 300 {
                throw ErrorBody(
                    .keyRevoked,
                    "the broker at \(endpoint) refused this key (ZAP \(status)): it was revoked, e.g. the operator was removed"
                )
            }
            while let message = try socket.receive(maxFrames: 4, maxBytes: 64 << 20) {
                guard let decoded = try? WireCodec.decode(message.frames, hasTopic: false) else { continue }
                if decoded.header.type == .error, decoded.header.corr == nil || decoded.header.corr == header.id {
                    throw (try? decoded.decode(ErrorBody.self))
                        ?? ErrorBody(.internal, "the broker refused the request")
                }
                guard decoded.header.type == .reply, decoded.header.corr == header.id else { continue }
                let reply: TypedReply<T>
                do {
                    reply = try decoded.decode(TypedReply<T>.self)
                } catch {
                    throw ErrorBody(code: "bad_reply", message: "unexpected reply to \(op): \(error)")
                }
                if let error = reply.error { throw error }
                guard let result = reply.result else {
                    throw ErrorBody(code: "bad_reply", message: "\(op) returned no result")
                }
                return result
            }
        }
        throw ErrorBody(
            code: "timeout",
            message:
                "no answer from the broker at \(endpoint) within \(Self.seconds(timeout ?? self.timeout)) (is capsule-broker running, and is this key enrolled?)"
        )
    }

    /// Sends a request and returns its result as free-form JSON.
    package func call(
        _ service: String,
        _ op: String,
        _ params: JSONValue = .object([:]),
        timeout: TimeInterval? = nil
    ) throws -> JSONValue {
        try call(JSONValue.self, service, op, params, timeout: timeout)
    }

    /// Runs one typed operation and returns its typed result.
    package func call<Op: RequestOperation>(
        _ op: Op.Type,
        _ params: Op.Params,
        timeout: TimeInterval? = nil
    ) throws -> Op.Result {
        try send(
            OperationRequest(service: Op.service, op: Op.name, params: params),
            as: Op.Result.self,
            op: Op.name,
            timeout: timeout
        )
    }

    /// Runs a paged list operation to the end, handing over each page's items.
    package func pages<Op: RequestOperation, Item>(
        _ op: Op.Type,
        _ params: Op.Params,
        cursor: WritableKeyPath<Op.Params, String?>,
        each: ([Item]) throws -> Void
    ) throws where Op.Result == Page<Item> {
        var params = params
        while true {
            let page = try call(op, params)
            try each(page.items)
            guard let next = page.next else { return }
            params[keyPath: cursor] = next
        }
    }
}
