import Hummingbird
import NIOCore
package import Prometheus

/// The routes of a daemon's metrics listener: `/metrics` in the Prometheus text format, read from
/// the thread-safe registry the swift-metrics backend writes to, and `/healthz`.
package enum MetricsRoutes {
    package static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    package static func install(_ registry: PrometheusCollectorRegistry, program: String) -> HTTPListener.Routes {
        { router in
            router.get("metrics") { _, _ -> Response in
                var bytes: [UInt8] = []
                bytes.reserveCapacity(16_384)
                registry.emit(into: &bytes)
                return Response(
                    status: .ok,
                    headers: [.contentType: contentType],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes))
                )
            }
            router.get("healthz") { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "ok\n"))
                )
            }
            router.get("/") { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(
                        byteBuffer: ByteBuffer(string: "\(program): metrics at /metrics (Prometheus text format)\n")
                    )
                )
            }
        }
    }
}
