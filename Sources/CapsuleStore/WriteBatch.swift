import Dispatch
import Metrics

/// Group commit: the writes a loop turn produces, in one transaction at the end of the turn.
///
/// Each write runs inside the transaction, in the order it was added (first all in one go; should one
/// throw, again each in its own savepoint, so only that one is rolled back); its
/// `done` continuation runs after the commit (in order), so replies, dispatches and publications
/// happen only once their state is durable. A write that throws is rolled back alone (its journal
/// appends too) and its `done` gets the error. If the whole transaction fails (a full disk, an I/O
/// error, the PostgreSQL server gone), nothing was written: the journal's sequence is rewound and
/// every `done` gets the error, newest first, so in-memory state can be restored step by step. A
/// write reports a refusal (a token already used, say) by returning it, not by throwing.
///
/// On PostgreSQL the turn's statements are sent without waiting for each answer, so a turn costs
/// one wait, not one per statement. Should one of them fail, the server has aborted the whole
/// transaction and the failure cannot be pinned on its write; the batch then runs again with every
/// statement awaited, so each write still succeeds or fails alone.
package final class WriteBatch {
    private struct Step {
        let run: (any SQLConnection) throws -> Void
        let succeeded: () -> Void
        let failed: (any Error) -> Void
    }

    private let store: any SQLStore
    private let journal: EventJournal?
    private var steps: [Step] = []
    /// `capsule_store_write_seconds`: how long each group commit takes (the store write latency).
    private let commitTimer = Metrics.Timer(label: "capsule_store_write_seconds")

    package init(store: any SQLStore, journal: EventJournal?) {
        self.store = store
        self.journal = journal
    }

    package var isEmpty: Bool { steps.isEmpty }
    package var count: Int { steps.count }

    /// Adds a write; `done` runs after the batch commits or fails.
    package func add<T>(
        _ work: @escaping (any SQLConnection) throws -> T,
        done: @escaping (Result<T, any Error>) -> Void
    ) {
        var value: T?
        steps.append(
            Step(
                run: { db in value = try work(db) },
                succeeded: { done(.success(value!)) },
                failed: { done(.failure($0)) }
            )
        )
    }

    /// Commits everything added so far in one transaction, then runs the continuations.
    package func commit() {
        guard !steps.isEmpty else { return }
        let batch = steps
        steps.removeAll(keepingCapacity: true)
        let seqBefore = journal?.lastSeq
        var stepErrors = [(any Error)?](repeating: nil, count: batch.count)
        let started = DispatchTime.now().uptimeNanoseconds
        defer { commitTimer.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started)) }
        // Each step in its own savepoint, so a failing one rolls back alone.
        func runIsolated(_ db: any SQLConnection) {
            for (index, step) in batch.enumerated() {
                let before = journal?.lastSeq
                do {
                    try db.inSavepoint { try step.run(db) }
                    stepErrors[index] = nil
                } catch {
                    if let before { journal?.rewind(to: before) }
                    stepErrors[index] = error
                }
            }
        }
        // First without savepoints (two statements fewer per step); a step that throws rolls the
        // whole transaction back, and the batch runs again step by step in savepoints.
        func runOptimistic(_ db: any SQLConnection) throws {
            for step in batch {
                do { try step.run(db) } catch { throw StepFailed() }
            }
        }
        func rewind() {
            if let seqBefore { journal?.rewind(to: seqBefore) }
        }
        // One deferred statement failed (see above): again, one statement at a time.
        func isolated() throws {
            do {
                try store.write(runIsolated)
            } catch is DeferredWriteError {
                rewind()
                try store.writeAwaitingEach(runIsolated)
            }
        }
        do {
            do {
                try store.write(runOptimistic)
            } catch is StepFailed {
                rewind()
                try isolated()
            } catch is DeferredWriteError {
                rewind()
                try store.writeAwaitingEach(runIsolated)
            }
        } catch {
            rewind()
            for step in batch.reversed() { step.failed(error) }
            return
        }
        for (index, step) in batch.enumerated() {
            if let error = stepErrors[index] { step.failed(error) } else { step.succeeded() }
        }
    }
}

/// A step threw in a batch run without savepoints; the batch runs again with them.
private struct StepFailed: Error {}

/// A statement sent without waiting failed; the transaction it belonged to was rolled back whole.
package struct DeferredWriteError: Error, CustomStringConvertible {
    package var underlying: any Error
    package init(_ underlying: any Error) { self.underlying = underlying }
    package var description: String { "\(underlying)" }
}
