import CapsuleRuntime
import CapsuleZMQ
import Logging

/// Builds the aggregator service.
package enum Aggregator {
    package static func makeService(configuration: AggregatorConfiguration, logger: Logger) throws -> LoopService<some LoopCore> {
        let store = try AggregatorStore(url: configuration.home.database("aggregator"), initialize: configuration.initializeStore)
        let thread = LoopThread(name: "capsule-aggregator", context: ZMQContext()) { loop in
            try AggregatorCore(configuration: configuration, store: store, loop: loop, logger: logger)
        }
        return LoopService(thread: thread)
    }
}
