import CapsuleDomain
package import Foundation

/// `worker.ready`: an internal service offers to answer requests for `service`.
package struct WorkerReady: Codable, Sendable, Hashable {
    package var service: String
    /// The worker's software version, start time, and its journal's position (for `cluster.info`).
    package var version: String?
    package var startedAt: Date?
    package var journalLastSeq: UInt64?
    package var journalIncarnation: String?
    /// The build's git commit and the worker's store schema version (for `cluster.info`).
    package var commit: String?
    package var schemaVersion: String?

    package init(
        service: String,
        version: String? = nil,
        startedAt: Date? = nil,
        journalLastSeq: UInt64? = nil,
        journalIncarnation: String? = nil,
        commit: String? = CapsuleVersion.commit,
        schemaVersion: String? = nil
    ) {
        self.service = service
        self.version = version
        self.startedAt = startedAt
        self.journalLastSeq = journalLastSeq
        self.journalIncarnation = journalIncarnation
        self.commit = commit
        self.schemaVersion = schemaVersion
    }
}
