import ArgumentParser
import CapsuleConsole
import CapsuleDaemon
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Logging
import Synchronization

/// `capsulectl console`: the web console on this machine, speaking to the broker with this operator's
/// key, as `kubectl proxy` does (docs/console.md). The key's role decides what it shows and allows.
struct ConsoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Serve the web console on this machine, with this operator's key and role.",
        discussion: """
            Binds to loopback by default and prints a URL carrying a random session secret; a request \
            without it gets 401. Everything it serves is in the build: it works offline.
            """
    )

    @OptionGroup var options: CTLOptions

    @Option(
        help:
            "host:port to listen on (default 127.0.0.1:7480). Anything but loopback lets whoever reaches it and has the URL act with this key."
    )
    var listen = "127.0.0.1:7480"

    @Flag(help: "Open the URL in the default browser.")
    var open = false

    @Option(help: "Serve the front end from this folder instead of the build (for working on it).")
    var assets: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        do {
            _ = try ListenAddress(parsing: listen)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        try guarded {
            let address = try ListenAddress(parsing: listen)
            let logger = LogSetup.bootstrap(level: logLevel, label: "capsule.console")
            let connection = try Connection(options: options)
            // One check before serving: the key works and the broker says which role it has.
            let who: BrokerOps.SessionWhoami.Result?
            do {
                who = try connection.client().call(BrokerOps.SessionWhoami.self, NoParams())
            } catch let error as ErrorBody where error.code == .timeout {
                logger.warning(
                    "The broker did not answer; serving anyway (the page says when it cannot reach it).",
                    metadata: ["zmq.endpoint": "\(connection.endpoint)"]
                )
                who = nil
            }
            let configuration = ConsoleConfiguration(
                host: address.host,
                port: address.port,
                secret: SessionGate.randomSecret(),
                assetsDirectory: assets,
                brokerEndpoint: connection.endpoint
            )
            let server = try ConsoleServer(
                configuration: configuration,
                logger: logger,
                makeClient: { try connection.client() }
            )
            if !address.isLoopback {
                logger.warning(
                    "Listening beyond loopback: whoever reaches this address and has the URL acts with this key.",
                    metadata: ["console.listen": "\(listen)"]
                )
            }
            let url = configuration.url
            let opening = open
            let outcome = Outcome()
            let finished = DispatchSemaphore(value: 0)
            // The server is async; this synchronous command waits on its own (main) thread, off the pool.
            Task {
                do {
                    try await server.run(onReady: {
                        let role =
                            who.map { "operator \($0.name) (\($0.role.rawValue))" }
                            ?? "this key (broker not answering yet)"
                        // Unbuffered, so a script reading a pipe (make demo, the tests) sees the URL at once.
                        FileHandle.standardOutput.write(
                            Data(
                                """
                                Capsule console for \(role), broker \(connection.endpoint)
                                  \(url)
                                Open that URL (it carries the session secret). Ctrl-C stops the console.

                                """.utf8
                            )
                        )
                        if opening { Self.openInBrowser(url, logger: logger) }
                    })
                } catch {
                    outcome.failure.withLock { $0 = error }
                }
                finished.signal()
            }
            finished.wait()
            if let error = outcome.failure.withLock({ $0 }) { throw error }
        }
    }

    private final class Outcome: Sendable {
        let failure = Mutex<(any Error)?>(nil)
    }

    /// The operator's key and the broker's address, resolved once; each pool thread connects its own client.
    struct Connection: Sendable {
        var endpoint: String
        var keyPair: CurveKeyPair
        var serverKey: CurveKey
        var sender: String
        var timeout: Double

        /// The same key resolution as every other subcommand (``RequestClient/init(options:)``).
        init(options: CTLOptions) throws {
            let (info, serverKey) = try options.connect.resolveBroker()
            var name = options.operatorName
            if let keyFile = options.key {
                keyPair = try KeyFile.read(URL(fileURLWithPath: keyFile))
                name = name ?? KeyFile.operatorName(URL(fileURLWithPath: keyFile))
            } else {
                let file = options.connect.capsuleHome.keyFile("operator")
                guard FileManager.default.fileExists(atPath: file.path) else {
                    throw ErrorBody(
                        .noKey,
                        "no operator key at \(file.path); start capsule-broker with this home first or pass --key FILE"
                    )
                }
                keyPair = try KeyFile.read(file)
            }
            endpoint = info.router
            self.serverKey = serverKey
            sender = "operator:\(name ?? "local-owner")"
            timeout = options.requestTimeout
        }

        func client() throws -> RequestClient {
            try RequestClient(
                endpoint: endpoint,
                keyPair: keyPair,
                serverKey: serverKey,
                sender: sender,
                timeout: timeout
            )
        }
    }

    private static func openInBrowser(_ url: String, logger: Logger) {
        #if os(macOS)
        let opener = "/usr/bin/open"
        #else
        let opener = "/usr/bin/xdg-open"
        #endif
        let process = Process()
        process.executableURL = URL(fileURLWithPath: opener)
        process.arguments = [url]
        do {
            try process.run()
        } catch {
            logger.warning("Could not open a browser; open the URL by hand.", metadata: ["console.opener": "\(opener)"])
        }
    }
}
