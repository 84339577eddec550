import CapsuleDomain
import CapsuleProtocol
package import CapsuleRuntime
import CapsuleZMQ
import Foundation
import HTTPTypes
import Hummingbird
package import Logging
import NIOCore

/// How `capsulectl console` was asked to run.
package struct ConsoleConfiguration: Sendable {
    package var host: String
    package var port: Int
    /// The session secret the URL carries (``SessionGate``).
    package var secret: String
    /// Serve the front end from this folder instead of the build's bundle (front-end work).
    package var assetsDirectory: String?
    /// Threads (and broker connections) for ordinary requests, and for long waits.
    package var poolSize: Int
    package var waitPoolSize: Int
    /// Shown on the page: which broker this console speaks to.
    package var brokerEndpoint: String

    package init(
        host: String,
        port: Int,
        secret: String,
        assetsDirectory: String? = nil,
        poolSize: Int = 4,
        waitPoolSize: Int = 8,
        brokerEndpoint: String
    ) {
        self.host = host
        self.port = port
        self.secret = secret
        self.assetsDirectory = assetsDirectory
        self.poolSize = poolSize
        self.waitPoolSize = waitPoolSize
        self.brokerEndpoint = brokerEndpoint
    }

    /// The URL to open: it carries the session secret, once.
    package var url: String {
        let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "http://\(shown):\(port)/?token=\(secret)"
    }
}

/// The web console: static files and a JSON API over the broker, served by Hummingbird on the
/// operator's machine with the operator's key (docs/console.md).
package final class ConsoleServer: Sendable {
    package let configuration: ConsoleConfiguration
    let logger: Logger
    let gate: SessionGate
    let assets: ConsoleAssets
    /// Ordinary requests, and long waits (`command.wait`, the audit tail), on separate threads.
    let pool: BrokerPool
    let waits: BrokerPool

    /// - Parameter makeClient: connects one ``RequestClient`` with the operator's key; called on the
    ///   pool threads, one client per thread.
    package init(
        configuration: ConsoleConfiguration,
        logger: Logger,
        makeClient: @escaping @Sendable () throws -> RequestClient
    ) throws {
        self.configuration = configuration
        self.logger = logger
        gate = SessionGate(secret: configuration.secret, listenHost: configuration.host, port: configuration.port)
        assets = try ConsoleAssets.load(override: configuration.assetsDirectory)
        pool = BrokerPool(name: "console-broker", size: configuration.poolSize, makeClient: makeClient)
        waits = BrokerPool(name: "console-waits", size: configuration.waitPoolSize, makeClient: makeClient)
    }

    /// Serves until SIGINT or SIGTERM; `onReady` runs once the port is bound.
    package func run(onReady: @escaping @Sendable () async -> Void = {}) async throws {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: GateMiddleware(gate: gate, logger: logger))
        addRoutes(to: router)
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { _ in await onReady() },
            logger: logger
        )
        defer {
            pool.shutdown()
            waits.shutdown()
        }
        try await app.runService()
    }

    // MARK: Routes

    private func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/api/session") { [self] _, _ in try await session() }
        router.post("/api/console/operator-add") { [self] request, _ in try await addOperator(request) }
        router.get("/api/events") { [self] request, _ in try await events(request) }
        router.get("/api/audit/export") { [self] request, _ in try await export(request) }
        router.post("/api/{service}/{op}") { [self] request, context in
            try await forward(
                request,
                service: context.parameters.get("service") ?? "",
                op: context.parameters.get("op") ?? ""
            )
        }
        router.get("/") { [self] request, _ in asset(request) }
        router.get("**") { [self] request, _ in asset(request) }
    }

    /// Who this console is: the key's operator name and role, and where the broker is.
    private func session() async throws -> Response {
        let started = ContinuousClock.now
        do {
            let who = try await pool.call(BrokerOps.SessionWhoami.self, NoParams())
            let body: JSONValue = .object([
                "operator": .object(["name": .string(who.name), "role": .string(who.role.rawValue)]),
                "console": .object([
                    "version": .string(CapsuleVersion.current), "broker": .string(configuration.brokerEndpoint),
                ]),
            ])
            return Self.json(body, timing: started)
        } catch {
            return Self.failure(error, timing: started)
        }
    }

    /// `POST /api/<service>/<op>` with the params as the body: one broker operation, as this key.
    private func forward(_ request: Request, service: String, op: String) async throws -> Response {
        let started = ContinuousClock.now
        guard ConsoleOperations.isForwarded(service: service, op: op) else {
            return Self.failure(
                ErrorBody(
                    .unknownOp,
                    "the console forwards no operation \(SafeText.quoted("\(service)/\(op)", limit: 80))"
                ),
                timing: started
            )
        }
        let params: JSONValue
        do {
            params = try await Self.body(request)
        } catch {
            return Self.failure(error, timing: started)
        }
        let (sent, timeout) = ConsoleOperations.prepare(op: op, params: params)
        let chosen = ConsoleOperations.isLong(op: op, params: params) ? waits : pool
        do {
            let result = try await chosen.call(service, op, sent, timeout: timeout)
            let response = Self.json(result, timing: started)
            logger.debug(
                "Forwarded a request.",
                metadata: ["console.op": "\(service)/\(op)", "console.ms": "\(Self.milliseconds(since: started))"]
            )
            return response
        } catch {
            logger.debug(
                "A forwarded request failed.",
                metadata: ["console.op": "\(service)/\(op)", "error": "\(error)"]
            )
            return Self.failure(error, timing: started)
        }
    }

    /// Creates an operator key here (only its public half goes to the broker) and hands the key
    /// file to the owner's browser, once, as `capsulectl operator add` prints it.
    private func addOperator(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let params = try await Self.body(request)
            guard let name = params["name"]?.stringValue, let roleName = params["role"]?.stringValue,
                let role = OperatorRole(rawValue: roleName)
            else { throw ErrorBody(.badRequest, "name and role (viewer, operator or owner) are required") }
            guard Identifier.isValid(name) else {
                throw ErrorBody(.invalidIdentifier, IdentifierError(what: "operator name", value: name).description)
            }
            let pair = try CurveKeyPair.generate()
            let record = try await pool.call(
                BrokerOps.OperatorAdd.self,
                .init(name: name, role: role, publicKey: pair.publicKey.z85)
            )
            let keyFile = KeyFile.text(pair, name: name, role: role.rawValue)
            return Self.json(
                JSONValue.object(["operator": .encoding(record), "keyFile": .string(keyFile)]),
                timing: started
            )
        } catch {
            return Self.failure(error, timing: started)
        }
    }

    // MARK: Live events

    /// `GET /api/events`: new audit records as they are stored (`event: audit`), filtered like
    /// `capsulectl audit --follow` (`subject`, `action`, `actor`, `result`), from `after` (or the
    /// browser's `Last-Event-ID`, or now). With `summary=1`, also the dashboard's counts and running
    /// commands (`event: summary`) at the start and after each change. The audit writer holds each
    /// query until a record matches (up to 8 s), so nothing polls.
    private func events(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var filter: AuditFilter
        do {
            filter = try AuditExport.filter { query.get($0) }
        } catch {
            return Self.failure(error, timing: .now)
        }
        let withSummary = query.get("summary") == "1"
        let resume =
            request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int64($0) }
            ?? query.get("after").flatMap { Int64($0) }
        filter.since = nil
        filter.until = nil
        let base = filter
        let body = ResponseBody { [self] writer in
            try await writer.write(ByteBuffer(string: ServerSentEvents.retry(milliseconds: 2_000)))
            var after = resume
            var quietTurns = 0
            var needSummary = withSummary
            while !Task.isCancelled {
                do {
                    if after == nil {
                        var newest = base
                        newest.limit = 1
                        after = try await pool.call(AuditOps.Query.self, newest).records.first?.id ?? 0
                    }
                    if needSummary {
                        try await writer.write(
                            ByteBuffer(string: ServerSentEvents.event("summary", data: try await dashboard()))
                        )
                        needSummary = false
                    }
                    var next = base
                    next.afterId = after
                    next.ascending = true
                    next.limit = 200
                    next.waitSeconds = AuditFilter.maxWaitSeconds
                    let page = try await waits.call(AuditOps.Query.self, next, timeout: AuditFilter.maxWaitSeconds + 10)
                    if page.records.isEmpty {
                        try await writer.write(ByteBuffer(string: ServerSentEvents.keepAlive))
                        quietTurns += 1
                        // Counts also move without events of this filter (a sweep, a dropped report): refresh now and then.
                        if withSummary && quietTurns % 2 == 0 { needSummary = true }
                        continue
                    }
                    quietTurns = 0
                    for record in page.records {
                        try await writer.write(
                            ByteBuffer(
                                string: ServerSentEvents.event(
                                    "audit",
                                    id: record.id,
                                    data: try WireCodec.encoder.encode(record)
                                )
                            )
                        )
                    }
                    after = page.records.last?.id ?? after
                    if withSummary && page.records.contains(where: { Self.movesDashboard($0.event.action) }) {
                        needSummary = true
                    }
                } catch let error as ErrorBody {
                    // The broker or the audit writer is away: say so, then try again (the page shows it).
                    try await writer.write(
                        ByteBuffer(string: ServerSentEvents.event("problem", data: try WireCodec.encoder.encode(error)))
                    )
                    try await Task.sleep(for: .seconds(2))
                }
            }
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: body)
    }

    private static func movesDashboard(_ action: String) -> Bool {
        action.hasSuffix(".transition") || action.hasPrefix("command.") || action.hasPrefix("agent.")
    }

    /// The dashboard's live numbers: counts per status, and the commands not yet done.
    private func dashboard() async throws -> Data {
        async let summary = pool.call(AggregatorOps.StatusSummaryOp.self, NoParams())
        async let running = pool.call(BrokerOps.CommandList.self, .init(status: .running, limit: 20))
        async let pending = pool.call(BrokerOps.CommandList.self, .init(status: .pending, limit: 20))
        let snapshot: JSONValue = .object([
            "summary": .encoding(try await summary),
            "running": .encoding(try await running.items + pending.items),
            "at": .number((Date().timeIntervalSince1970 * 1000).rounded()),
        ])
        return try WireCodec.encoder.encode(snapshot)
    }

    // MARK: Export

    /// `GET /api/audit/export?format=csv|json&…filters`: every matching record, oldest first, as
    /// `capsulectl audit export` writes them, streamed page by page.
    private func export(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let format = AuditExport.Format(rawValue: query.get("format") ?? "csv") ?? .csv
        let filter: AuditFilter
        do {
            filter = try AuditExport.filter { query.get($0) }
        } catch {
            return Self.failure(error, timing: .now)
        }
        // The first page before the headers, so a refusal is an error response, not a broken file.
        var first = filter
        first.ascending = true
        first.limit = 2_000
        let firstPage: AuditPage
        do {
            firstPage = try await pool.call(AuditOps.Query.self, first, timeout: 30)
        } catch {
            return Self.failure(error, timing: .now)
        }
        let pageFilter = first
        let body = ResponseBody { [self] writer in
            try await writer.write(ByteBuffer(string: AuditExport.opening(format)))
            var page = firstPage
            var written = 0
            var next = pageFilter
            while true {
                var chunk = ""
                for record in page.records {
                    chunk += AuditExport.row(record, format: format, first: written == 0)
                    written += 1
                }
                if !chunk.isEmpty { try await writer.write(ByteBuffer(string: chunk)) }
                guard !page.complete, let last = page.records.last?.id else { break }
                next.afterId = last
                page = try await pool.call(AuditOps.Query.self, next, timeout: 30)
            }
            try await writer.write(ByteBuffer(string: AuditExport.closing(format, empty: written == 0)))
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = format.contentType
        headers[.contentDisposition] = "attachment; filename=\"\(AuditExport.fileName(format, at: Date()))\""
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: Static files

    private func asset(_ request: Request) -> Response {
        guard let asset = assets.asset(for: request.uri.path) else {
            return Self.failure(ErrorBody(.notFound, "no such page"), timing: .now)
        }
        let tag = "\"\(asset.bytes.count)-\(Self.fnv(asset.bytes))\""
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = "no-cache"
        headers[.eTag] = tag
        if request.headers[.ifNoneMatch] == tag { return Response(status: .notModified, headers: headers) }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    private static func fnv(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }

    // MARK: Helpers

    private static func body(_ request: Request) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: ConsoleOperations.maxBodyBytes)
        } catch {
            throw ErrorBody(.badRequest, "the request body is larger than \(ConsoleOperations.maxBodyBytes / 1024) KiB")
        }
        guard buffer.readableBytes > 0 else { return .object([:]) }
        do {
            return try WireCodec.decoder.decode(JSONValue.self, from: Data(buffer.readableBytesView))
        } catch {
            throw ErrorBody(.badRequest, "the request body is not JSON")
        }
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        return (Double(seconds) * 1_000 + Double(attoseconds) / 1e15).rounded(toPlaces: 2)
    }

    /// A JSON answer with the console's own time in `Server-Timing` (docs/console.md, "Response times").
    static func json(
        _ value: some Encodable,
        status: HTTPResponse.Status = .ok,
        timing started: ContinuousClock.Instant
    ) -> Response {
        let data = (try? WireCodec.encoder.encode(value)) ?? Data("null".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("Server-Timing")!] = "console;dur=\(milliseconds(since: started))"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// An error answer: `{"error": {"code", "message"}}` with a status that fits the code.
    static func failure(_ error: any Error, timing started: ContinuousClock.Instant) -> Response {
        let body: ErrorBody
        switch error {
        case let error as ErrorBody: body = error
        case let error as ZMQError: body = ErrorBody(.unreachable, "cannot reach the broker: \(error)")
        case let error as ConfigError: body = ErrorBody(.unreachable, error.description)
        default: body = ErrorBody(.internal, "\(error)")
        }
        return json(["error": body], status: ConsoleOperations.status(for: body.code), timing: started)
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}
