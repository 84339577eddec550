import CZeroMQ
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

/// A broker process: the ``BrokerCore`` itself, or, in a pair (`--lease-seconds`), first the
/// standby that waits for the lease.
///
/// The standby binds only its router, and answers every message there with a `standby` error that
/// names the active broker, so agents, services and `capsulectl` move on to it. It binds neither
/// ingest nor the bus: publishers and subscribers connect to both brokers of the pair and reach
/// whichever is active. Once the ``LeaseKeeper`` wins the lease, the standby's socket goes, the
/// store's writes are fenced with the lease, and the broker core starts, loading live commands,
/// principals, services and its journal's position from the shared store.
final class BrokerNode: LoopCore {
    private let loop: PollLoop
    private let keeper: LeaseKeeper?
    private let store: BrokerStore
    private let makeCore: (PollLoop) throws -> BrokerCore
    private let logger: Logger
    private var standby: ZMQSocket?
    private var factory = MessageFactory(sender: "broker")
    private(set) var core: BrokerCore?

    init(
        loop: PollLoop,
        store: BrokerStore,
        keeper: LeaseKeeper?,
        standbyBind: String,
        secretKey: CurveKey,
        maxMessageBytes: Int,
        logger: Logger,
        makeCore: @escaping (PollLoop) throws -> BrokerCore
    ) throws {
        self.loop = loop
        self.keeper = keeper
        self.store = store
        self.makeCore = makeCore
        self.logger = logger
        guard let keeper else {
            core = try makeCore(loop)
            return
        }
        let socket = try ZMQSocket(context: loop.context, type: .router)
        try socket.apply(ZMQSocketOptions.server(maxMessageBytes: maxMessageBytes))
        // CURVE without ZAP: any key may ask; the only answer is where the active broker is.
        try socket.setOption(ZMQ_CURVE_SERVER, Int32(1))
        try socket.setOption(ZMQ_CURVE_SECRETKEY, bytes: secretKey.bytes)
        try socket.bind(standbyBind)
        standby = socket
        loop.register(socket) { [unowned self] in self.drainStandby() }
        loop.every(.milliseconds(50)) { [unowned self] in self.checkLease() }
        logger.info(
            "Broker standing by for the lease.",
            metadata: [
                "zmq.router": "\(standbyBind)", "lease.holder": "\(keeper.holder)",
                "lease.seconds": "\(keeper.seconds)",
            ]
        )
        keeper.start()
    }

    func shutdown() {
        core?.shutdown()
        standby?.close()
        keeper?.stop(release: true)
    }

    private func drainStandby() {
        guard let standby else { return }
        let status = keeper?.status
        let message: String
        if let active = status?.activeEndpoint {
            message = "this broker is the standby of a pair; the active broker is \(active)"
        } else if let problem = status?.problem {
            message =
                "this broker is the standby of a pair and no broker is active: the lease cannot be checked (\(problem))"
        } else {
            message = "this broker is the standby of a pair; no broker is active yet (the lease is being taken over)"
        }
        var error = ErrorBody(.standby, message)
        error.activeBroker = status?.activeEndpoint
        _ = standby.drain(budget: 1_000, maxFrames: 4, maxBytes: WireCodec.maxBodyBytes + 8_192) { received in
            let frames = received.frames
            guard frames.count >= 2 else { return }
            let corr = (try? WireCodec.decode(Array(frames.dropFirst()), hasTopic: false))?.header.id
            _ = try? standby.send(
                [frames[0]] + WireCodec.encode(header: factory.plain(.error, corr: corr), body: error)
            )
        }
    }

    private func checkLease() {
        guard core == nil, let keeper, keeper.status.active else { return }
        if let standby {
            loop.unregister(standby)
            standby.close()
            self.standby = nil
        }
        let fence = keeper.fence
        store.database.setWriteFence(fence.sql, arguments: fence.arguments)
        do {
            core = try makeCore(loop)
            logger.info(
                "Broker active: holds the lease.",
                metadata: ["lease.holder": "\(keeper.holder)", "lease.epoch": "\(keeper.status.epoch)"]
            )
        } catch {
            logger.error("Won the lease but could not start serving; giving it up.", metadata: ["error": "\(error)"])
            keeper.abandon("could not start serving: \(error)")
        }
    }
}
