import Foundation
package import Hummingbird
package import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// One small HTTP server (Hummingbird 2) as a swift-service-lifecycle `Service`: the daemons'
/// `/metrics`, and the routes a caller adds (the web console uses the same listener).
///
/// It runs on an event loop group of its own (one NIO thread), never on a daemon's ZeroMQ loop
/// thread, so a slow scrape cannot delay a heartbeat and a busy loop cannot stall a scrape. Handlers
/// read only thread-safe state (the Prometheus registry).
package struct HTTPListener: Service {
    package typealias Routes = @Sendable (Router<BasicRequestContext>) -> Void

    private let bind: HTTPBindAddress
    private let name: String
    private let logger: Logger
    private let routes: Routes
    private let onListening: @Sendable (HTTPBindAddress) -> Void

    /// - Parameters:
    ///   - name: what this listener is for, in logs and errors (`metrics`, `console`).
    ///   - onListening: called with the bound address (the real port when `bind.port` is 0).
    package init(
        bind: HTTPBindAddress,
        name: String,
        logger: Logger,
        onListening: @escaping @Sendable (HTTPBindAddress) -> Void = { _ in },
        routes: @escaping Routes
    ) {
        self.bind = bind
        self.name = name
        self.logger = logger
        self.routes = routes
        self.onListening = onListening
    }

    package func run() async throws {
        let router = Router()
        routes(router)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (bind, name, logger, onListening) = (bind, name, logger, onListening)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(bind.host, port: bind.port), serverName: nil),
            onServerRunning: { channel in
                let bound = HTTPBindAddress(host: bind.host, port: channel.localAddress?.port ?? bind.port)
                logger.info("HTTP listening.", metadata: ["http.listener": "\(name)", "http.address": "\(bound)"])
                onListening(bound)
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger
        )
        do {
            try await app.run()
        } catch {
            try? await group.shutdownGracefully()
            if error is CancellationError { return }
            throw HTTPListenerError(name: name, bind: bind, underlying: "\(error)")
        }
        try? await group.shutdownGracefully()
    }
}

/// A listener that could not start: which one, where, and why.
package struct HTTPListenerError: Error, Sendable, CustomStringConvertible {
    package var name: String
    package var bind: HTTPBindAddress
    package var underlying: String

    package var description: String {
        "cannot serve \(name) on \(bind): \(underlying) (choose another address with --\(name)-bind HOST:PORT, or --\(name)-bind off)"
    }
}
