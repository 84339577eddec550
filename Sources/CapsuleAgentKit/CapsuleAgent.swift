import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Logging
public import ServiceLifecycle
import Synchronization

/// The embedded Capsule agent: registers services, heartbeats their health, reports configuration
/// and runs declared actions that operators trigger.
///
/// `run()` never fails because the broker is unreachable: the agent keeps reconnecting with jittered
/// back-off, and the host service starts regardless. Use it as a swift-service-lifecycle `Service`,
/// or call ``start()`` and ``stop()``.
public final class CapsuleAgent: Service, Sendable {
    private let configuration: AgentConfiguration
    private let services: [CapsuleService]
    private let now: @Sendable () -> Date
    private let state = Mutex<
        (thread: LoopThread<AgentCore>?, task: Task<Void, Never>?, interval: Double, agentId: String?)
    >(
        (nil, nil, 30, nil)
    )

    /// Creates an agent governing `services`.
    public init(configuration: AgentConfiguration, services: [CapsuleService]) {
        self.configuration = configuration
        self.services = services
        self.now = Date.init
        state.withLock { $0.interval = Self.seconds(configuration.heartbeatInterval) }
    }

    /// The agentId the broker assigned, once welcomed.
    public var agentId: String? { state.withLock { $0.agentId } }

    /// Starts the agent in the background and returns at once.
    public func start() {
        let task = Task<Void, Never> { _ = try? await self.run() }
        state.withLock { $0.task = task }
    }

    /// Stops the agent and closes its sockets.
    public func stop() async {
        let (thread, task) = state.withLock { ($0.thread, $0.task) }
        thread?.stop()
        task?.cancel()
        _ = await task?.value
    }

    /// Runs the agent until the task is cancelled or a graceful shutdown is requested.
    public func run() async throws {
        let logger = configuration.logger
        let endpoints = await resolveEndpoints(logger: logger)
        guard let endpoints else { return }
        let (stream, continuation) = AsyncStream<AgentEvent>.makeStream()
        let code = configuration.agentCode
        let token = configuration.enrollmentToken
        let now = self.now
        let thread = LoopThread<AgentCore>(name: "capsule-agent-\(code)", context: ZMQContext()) { loop in
            try AgentCore(
                loop: loop,
                endpoints: endpoints,
                agentCode: code,
                enrollmentToken: token,
                logger: logger,
                now: now,
                events: continuation
            )
        }
        state.withLock { $0.thread = thread }
        let home = CapsuleHome(path: configuration.home)
        let ledger = LedgerBox(
            CommandLedger(
                file: home.dataDirectory.appendingPathComponent("agent-\(code)-commands.jsonl"),
                legacy: home.dataDirectory.appendingPathComponent("agent-\(code)-commands.json")
            )
        )

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await thread.run() } catch {
                    logger.error("Agent socket thread failed.", metadata: ["error": "\(error)"])
                }
            }
            group.addTask { await self.heartbeatLoop(thread: thread) }
            group.addTask { await self.eventLoop(stream, thread: thread, ledger: ledger) }
            await withGracefulShutdownHandler {
                await group.next()
            } onGracefulShutdown: {
                thread.stop()
            }
            thread.stop()
            continuation.finish()
            group.cancelAll()
        }
    }

    private func resolveEndpoints(logger: Logger) async -> AgentCore.Endpoints? {
        var warned = false
        while !Task.isCancelled {
            do {
                try Identifier.validate(configuration.agentCode, as: "agent code")
                let home = CapsuleHome(path: configuration.home)
                let (info, key) = try BrokerInfo.resolve(
                    home: home,
                    ingest: configuration.ingestEndpoint,
                    router: configuration.routerEndpoint,
                    brokerKey: configuration.brokerKey,
                    brokers: configuration.brokers?.joined(separator: ",")
                )
                let keyPair = try home.loadOrCreateKeyPair("agent-\(configuration.agentCode)")
                return AgentCore.Endpoints(
                    router: info.router,
                    ingest: info.ingest,
                    serverKey: key,
                    keyPair: keyPair,
                    pair: info.pair
                )
            } catch let error as IdentifierError {
                logger.error("The agent cannot start.", metadata: ["error": "\(error)"])
                return nil
            } catch {
                if !warned {
                    logger.warning("Broker not known yet; retrying.", metadata: ["error": "\(error)"])
                    warned = true
                }
                try? await Task.sleep(for: .seconds(2))
            }
        }
        return nil
    }

    // MARK: Heartbeats

    private func heartbeatLoop(thread: LoopThread<AgentCore>) async {
        while !Task.isCancelled {
            let manifests = await withTaskGroup(of: ServiceManifest.self) { group in
                for service in services { group.addTask { await service.manifest() } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            thread.post { core in core.update(manifests: manifests) }
            let started = now()
            let samples = await sampleHealth()
            let interval = state.withLock { $0.interval }
            thread.post { core in core.heartbeat(samples, interval: interval, sampledAt: started) }
            let elapsed = now().timeIntervalSince(started)
            try? await Task.sleep(for: .seconds(max(0.05, interval - elapsed)))
        }
    }

    /// Samples every service's health concurrently; a provider that throws or exceeds the timeout
    /// reports UNKNOWN with a message and never delays the heartbeat beyond the timeout.
    private func sampleHealth() async -> [ServiceHealth] {
        let timeout = configuration.healthTimeout
        let now = self.now
        return await withTaskGroup(of: ServiceHealth.self) { group in
            for service in services {
                group.addTask {
                    let report = await Self.sample(service, timeout: timeout)
                    return ServiceHealth(code: service.code, health: report, sampledAt: now())
                }
            }
            return await group.reduce(into: []) { $0.append($1) }.sorted { $0.code < $1.code }
        }
    }

    /// Runs the provider against its timeout in a task group; whichever finishes first wins and the
    /// other is cancelled, so a hung provider leaves no task behind once it honours cancellation.
    static func sample(_ service: CapsuleService, timeout: Duration) async -> HealthReport {
        guard let provider = service.healthProvider else {
            return HealthReport(status: .unknown, message: "no health provider")
        }
        return await withTaskGroup(of: HealthReport.self) { group in
            group.addTask {
                do { return try await provider() } catch {
                    return HealthReport(status: .unknown, message: "health check failed: \(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return HealthReport(
                    status: .unknown,
                    message: "health check timed out after \(Self.seconds(timeout)) s"
                )
            }
            let first = await group.next() ?? HealthReport(status: .unknown, message: "no health")
            group.cancelAll()
            return first
        }
    }

    // MARK: Commands

    private func eventLoop(_ stream: AsyncStream<AgentEvent>, thread: LoopThread<AgentCore>, ledger: LedgerBox) async {
        let running = RunningCommands()
        for await event in stream {
            switch event {
            case .welcome(let agentId, let seconds):
                state.withLock {
                    $0.agentId = agentId
                    $0.interval = seconds
                }
            case .reportRequested:
                break
            case .cancel(let ref):
                running.cancel(ref.commandId)
            case .dispatch(let command):
                let known: CommandLedger.Entry?
                do {
                    known = try ledger.begin(command.commandId)
                } catch {
                    // Not written down, so not run: a redelivery could not be told from a first delivery.
                    configuration.logger.error(
                        "Refused a command: the ledger cannot be written.",
                        metadata: ["command.id": "\(command.commandId)", "error": "\(error)"]
                    )
                    let refused = CommandResult(
                        commandId: command.commandId,
                        success: false,
                        error: ErrorBody(.ledgerUnavailable, "\(error); the command was not run")
                    )
                    thread.post { $0.sendResult(refused) }
                    continue
                }
                switch known {
                case .running:
                    thread.post { $0.acknowledge(command.commandId) }
                    continue
                case .finished(let result):
                    thread.post { $0.sendResult(result) }
                    continue
                case nil:
                    break
                }
                thread.post { $0.acknowledge(command.commandId) }
                let oneTime = oneTimeFields(command)
                let task = Task {
                    let result = ResultLimits.capped(await self.execute(command))
                    do {
                        try ledger.finish(result, oneTimeFields: oneTime)
                    } catch {
                        configuration.logger.error(
                            "Could not record a command's result.",
                            metadata: ["command.id": "\(command.commandId)", "error": "\(error)"]
                        )
                    }
                    if !Task.isCancelled { thread.post { $0.sendResult(result) } }
                    running.remove(command.commandId)
                }
                running.add(command.commandId, task)
            }
        }
        running.cancelAll()
    }

    private func oneTimeFields(_ command: CommandDispatch) -> [String] {
        services.first { $0.code == command.serviceCode }?.actions.first { $0.definition.name == command.action }?
            .definition.oneTimeResultFields ?? []
    }

    private func execute(_ command: CommandDispatch) async -> CommandResult {
        guard let service = services.first(where: { $0.code == command.serviceCode }) else {
            return CommandResult(
                commandId: command.commandId,
                success: false,
                error: ErrorBody(.unknownService, "this agent does not govern \(command.serviceCode)")
            )
        }
        guard let action = service.actions.first(where: { $0.definition.name == command.action }) else {
            return CommandResult(
                commandId: command.commandId,
                success: false,
                error: ErrorBody(.unknownAction, "\(command.serviceCode) has no action \(command.action)")
            )
        }
        let context = ActionContext(
            commandId: command.commandId,
            serviceCode: command.serviceCode,
            action: command.action,
            expiresAt: command.expiresAt
        )
        do {
            let result = try await action.handler(command.payload, context)
            return CommandResult(
                commandId: command.commandId,
                success: result.success,
                message: result.message,
                data: result.data,
                error: result.errorCode.map {
                    ErrorBody(ErrorBody.Code(rawValue: $0), result.errorMessage ?? result.message ?? $0)
                }
            )
        } catch {
            return CommandResult(
                commandId: command.commandId,
                success: false,
                error: ErrorBody(.handlerError, "\(error)")
            )
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The ledger, used from the agent's tasks one call at a time.
final class LedgerBox: Sendable {
    private let ledger: Mutex<CommandLedger>

    init(_ ledger: sending CommandLedger) { self.ledger = Mutex(ledger) }

    func begin(_ id: String) throws(CommandLedger.Unavailable) -> CommandLedger.Entry? {
        try ledger.withLock { ledger throws(CommandLedger.Unavailable) in try ledger.begin(id) }
    }

    func finish(_ result: CommandResult, oneTimeFields: [String]) throws(CommandLedger.Unavailable) {
        try ledger.withLock { ledger throws(CommandLedger.Unavailable) in
            try ledger.finish(result, oneTimeFields: oneTimeFields)
        }
    }
}
