package import CapsuleRuntime
import CapsuleStore
package import CapsuleZMQ
package import Logging

/// Builds the aggregator service.
package enum Aggregator {
    package static func makeService(
        configuration: AggregatorConfiguration,
        logger: Logger
    ) throws -> LoopService<some LoopCore> {
        let opener = configuration.store ?? .sqlite(directory: configuration.home.dataDirectory)
        let store = AggregatorStore(
            database: try opener.open(AggregatorStore.schema, initialize: configuration.initializeStore)
        )
        let thread = LoopThread(name: "capsule-aggregator", context: ZMQContext()) { loop in
            try AggregatorCore(configuration: configuration, store: store, loop: loop, logger: logger)
        }
        return LoopService(thread: thread)
    }
}
