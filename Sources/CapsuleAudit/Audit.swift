import CapsuleDomain
import CapsuleProtocol
package import CapsuleRuntime
import CapsuleStore
package import CapsuleZMQ
import Foundation
package import Logging

/// Builds the audit writer service.
package enum Audit {
    package static func makeService(
        configuration: AuditConfiguration,
        logger: Logger
    ) throws -> LoopService<some LoopCore> {
        let opener = configuration.store ?? .sqlite(directory: configuration.home.dataDirectory)
        let store = AuditStore(database: try opener.open(AuditStore.schema, initialize: configuration.initializeStore))
        let thread = LoopThread(name: "capsule-audit", context: ZMQContext()) { loop in
            try AuditCore(configuration: configuration, store: store, loop: loop, logger: logger)
        }
        return LoopService(thread: thread)
    }
}
