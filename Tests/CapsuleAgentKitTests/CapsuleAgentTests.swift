import Foundation
import Synchronization
import Testing

@testable import CapsuleAgentKit

/// Set once, read from any task.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

struct SampleError: Error, CustomStringConvertible {
    var description: String { "database unreachable" }
}

/// `CapsuleAgent.sample(_:timeout:)`: a health check never delays the heartbeat (docs/protocol.md §8).
/// Each test is bounded by a time limit instead of measuring time: a sample that waited for a hung
/// provider, or for its own timer after the provider answered, would never finish.
@Suite(.timeLimit(.minutes(1)))
struct CapsuleAgentSampleTests {
    @Test func aProviderThatAnswersIsReportedAsIs() async {
        let service = CapsuleService(code: "billing", name: "Billing", version: "1")
            .health { HealthReport(status: .degraded, message: "queue long") }
        // The timer is an hour: the sample must not wait for it once the provider has answered.
        let report = await CapsuleAgent.sample(service, timeout: .seconds(3_600))
        #expect(report == HealthReport(status: .degraded, message: "queue long"))
    }

    @Test func aThrowingProviderIsUnknownWithItsError() async {
        let service = CapsuleService(code: "billing", name: "Billing", version: "1").health { throw SampleError() }
        let report = await CapsuleAgent.sample(service, timeout: .seconds(3_600))
        #expect(report.status == .unknown)
        #expect(report.message == "health check failed: database unreachable")
    }

    @Test func aHungProviderIsUnknownTimedOutAndIsCancelled() async {
        let cancelled = Flag()
        let service = CapsuleService(code: "billing", name: "Billing", version: "1").health {
            do {
                try await Task.sleep(for: .seconds(3_600))
            } catch {
                cancelled.set()
                throw error
            }
            return HealthReport(status: .up)
        }
        let report = await CapsuleAgent.sample(service, timeout: .milliseconds(50))
        #expect(report.status == .unknown)
        #expect(report.message == "health check timed out after 0.05 s")
        #expect(cancelled.isSet, "the hung provider's task was cancelled, not left running")
    }

    @Test func aServiceWithoutAProviderIsUnknown() async {
        let report = await CapsuleAgent.sample(
            CapsuleService(code: "billing", name: "Billing", version: "1"),
            timeout: .seconds(1)
        )
        #expect(report == HealthReport(status: .unknown, message: "no health provider"))
    }

    @Test(arguments: [(Duration.seconds(2), 2.0), (.milliseconds(1_500), 1.5), (.milliseconds(50), 0.05)])
    func durationsBecomeSeconds(duration: Duration, seconds: Double) {
        #expect(abs(CapsuleAgent.seconds(duration) - seconds) < 1e-9)
    }
}
