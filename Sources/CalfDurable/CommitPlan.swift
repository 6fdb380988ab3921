import CalfStore
import CalfControl
import CalfRuntime

/// One commit, gathered from the writer's inbox before it is written: every
/// record in one buffer (`packed`, `ranges`: the record at index i gets seq
/// first + i), the snapshots and other writes of the same transaction, the
/// checkpoint rounds it finishes, the keyed messages it takes, and what to
/// release once it is in the journal, in order.
///
/// Writer thread only. The writer keeps one and reuses its buffers.
package struct CommitPlan {
    /// What happens after the commit, in the order of the entries.
    package enum Step {
        /// A journaled message goes to its recipient (told the seq of record `index`).
        case deliver(index: Int, any CommittedDelivery)
        /// A message from outside was taken, as record `index`.
        case accepted(index: Int, @Sendable (IngressResult) -> Void)
        /// A message from outside whose key was accepted before, at `seq`.
        case duplicate(seq: UInt64, @Sendable (IngressResult) -> Void)
        /// A message from outside whose key an earlier message of this commit has (record `index`).
        case duplicateInCommit(index: Int, @Sendable (IngressResult) -> Void)
        /// Runs after the commit on the writer's thread (after the mail before it was handed over).
        case release(@Sendable () -> Void)
        /// Runs after the commit on this scheduler's thread, in its release channel.
        case releaseOn(Scheduler, @Sendable () -> Void)

        /// Work on the writer's thread, which runs after what came before it was handed over.
        package var runsOnWriter: Bool {
            if case .release = self { return true }
            return false
        }
    }

    /// A process's snapshot, stamped with the seq of the last record before it.
    package struct Checkpoint {
        package var pid: UInt64
        package var recordsBefore: Int
        package var body: [UInt8]
    }

    /// How a checkpoint round stands: schedulers reported, the lowest cut and pending seq.
    package struct RoundProgress {
        package var reports = 0
        package var cut = UInt64.max
        package var lowestPending = UInt64.max
    }

    package private(set) var packed: [UInt8] = []
    package private(set) var ranges: [Range<Int>] = []
    package private(set) var steps: [Step] = []
    package private(set) var checkpoints: [Checkpoint] = []
    package private(set) var writes: [@Sendable (Transaction) throws -> Void] = []
    package private(set) var finishedRounds: [RoundProgress] = []
    package private(set) var keys = IdempotencyKeys.Commit()

    /// Nothing to write: no record, snapshot, write or round.
    package var writesNothing: Bool { ranges.isEmpty && checkpoints.isEmpty && writes.isEmpty && finishedRounds.isEmpty }

    /// Empties the plan, keeping its buffers.
    package mutating func reset() {
        packed.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
        steps.removeAll(keepingCapacity: true)
        checkpoints.removeAll()
        writes.removeAll()
        finishedRounds.removeAll()
        keys = IdempotencyKeys.Commit()
    }

    /// Gathers `inbox`: its batches in order, then its messages from outside.
    /// `rounds` holds the rounds not yet reported by every scheduler;
    /// `takesRounds` false: rounds' reports are ignored (the node is stopping).
    package mutating func gather(_ inbox: WriterInbox, keys known: IdempotencyKeys, now: UInt64,
                         rounds: inout [UInt64: RoundProgress], schedulerCount: Int, takesRounds: Bool = true) {
        for batch in inbox.batches {
            let base = packed.count
            packed.append(contentsOf: batch.bytes)
            for entry in batch.entries {
                if !takesRounds, case .round = entry { continue }
                add(entry, base: base, keys: known, now: now, rounds: &rounds, schedulerCount: schedulerCount)
            }
        }
        let base = packed.count
        packed.append(contentsOf: inbox.ingressBytes)
        for ingress in inbox.ingress { take(ingress, base: base, keys: known, now: now) }
    }

    private mutating func add(_ entry: CommitEntry, base: Int, keys known: IdempotencyKeys, now: UInt64,
                              rounds: inout [UInt64: RoundProgress], schedulerCount: Int) {
        switch entry {
        case .packed(let range, let deliver):
            if let deliver { steps.append(.deliver(index: ranges.count, deliver)) }
            ranges.append((range.lowerBound + base)..<(range.upperBound + base))
        case .record(let bytes, let deliver):
            if let deliver { steps.append(.deliver(index: ranges.count, deliver)) }
            ranges.append(packed.count..<(packed.count + bytes.count))
            packed.append(contentsOf: bytes)
        case .ingress(let ingress):
            take(ingress, base: base, keys: known, now: now)
        case .checkpoint(let pid, let body):
            checkpoints.append(Checkpoint(pid: pid, recordsBefore: ranges.count, body: body))
        case .write(let write):
            writes.append(write)
        case .release(let release):
            steps.append(.release(release))
        case .releaseOn(let scheduler, let release):
            steps.append(.releaseOn(scheduler, release))
        case .outcome(let tell):
            steps.append(.release { tell(nil) })
        case .round(let report):
            var progress = rounds[report.round] ?? RoundProgress()
            progress.reports += 1
            progress.cut = min(progress.cut, report.cut)
            progress.lowestPending = min(progress.lowestPending, report.lowestPending)
            if progress.reports == schedulerCount {
                rounds[report.round] = nil
                finishedRounds.append(progress)
            } else {
                rounds[report.round] = progress
            }
        }
    }

    /// A message from outside, its record at `ingress.record` from `base`: taken unless its key was.
    private mutating func take(_ ingress: Ingress, base: Int, keys known: IdempotencyKeys, now: UInt64) {
        if let key = ingress.key {
            switch known.check(key, acceptedAt: ingress.acceptedAt, now: now, index: ranges.count, in: &keys) {
            case .fresh: break
            case .duplicate(let seq):
                ingress.deliver.notDelivered()
                steps.append(.duplicate(seq: seq, ingress.ack))
                return
            case .duplicateInCommit(let index):
                ingress.deliver.notDelivered()
                steps.append(.duplicateInCommit(index: index, ingress.ack))
                return
            }
        }
        steps.append(.deliver(index: ranges.count, ingress.deliver))
        steps.append(.accepted(index: ranges.count, ingress.ack))
        ranges.append((ingress.record.lowerBound + base)..<(ingress.record.upperBound + base))
    }
}
