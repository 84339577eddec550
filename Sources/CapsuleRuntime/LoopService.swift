package import CapsuleZMQ
import ServiceLifecycle

/// Runs a ``LoopThread`` as a swift-service-lifecycle `Service`: graceful shutdown stops the loop,
/// which closes its sockets on its own thread.
package struct LoopService<Core: LoopCore>: Service {
    package let thread: LoopThread<Core>

    package init(thread: LoopThread<Core>) {
        self.thread = thread
    }

    package func run() async throws {
        try await withGracefulShutdownHandler {
            try await thread.run()
        } onGracefulShutdown: {
            thread.stop()
        }
    }
}
