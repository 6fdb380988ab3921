import CalfLoop
import CalfStore
import Glibc
import Synchronization
import CalfControl
import CalfRuntime

/// The writer's queue holds `DurableOptions.writerQueueLimit` messages from outside already.
@usableFromInline package struct WriterQueueFull: Error {
    @usableFromInline package init() {}
}

/// The one writer of a node's journal: takes everything waiting in its
/// inbox, commits it in one LMDB write transaction (group commit: one fsync
/// for all), then releases the outputs in commit order. Schedulers keep
/// running while a commit is in flight (pipelining).
///
/// A commit reads top to bottom in `commit(_:)`: gather the inbox into a
/// `CommitPlan` (records packed, idempotency keys checked), `write` it,
/// settle the keys, `release` the outputs, count it, finish its rounds.
///
/// What a commit releases on a scheduler — its mail and the work that must
/// run on that scheduler's thread — goes from this one thread through that
/// scheduler's `ReleaseChannel`, one hand-over per commit, in commit order:
/// a process receives its journaled mail in seq order, a timer is armed
/// after the mail committed before it, and `releasedThrough` tells a
/// scheduler which accepted records are surely in its mailboxes once it
/// drains its queue.
///
/// Thread ownership: `inbox` and the atomics are shared; everything else
/// belongs to the writer's loop thread.
@usableFromInline
package final class CommitWriter: LoopDriver, @unchecked Sendable {
    package let journal: Journal
    private let options: DurableOptions
    private let schedulerCount: Int
    /// What waits for the next commit (any thread).
    private let inbox = Mutex(WriterInbox())
    private let queued = Atomic<Bool>(false)
    /// Set when the writer's loop stops: what is submitted afterwards is
    /// refused at once (its senders would otherwise wait forever).
    private let stopped = Atomic<Bool>(false)
    /// Set once the node stops its processes: no checkpoint round finishes after that.
    private let roundsClosed = Atomic<Bool>(false)
    /// Every accepted record up to this seq has been handed to its recipient.
    package let releasedThrough: Atomic<UInt64>
    /// Set when a commit failed: the journal no longer matches memory, so
    /// nothing more is accepted until the node restarts (and recovers).
    package let failure = Mutex<String?>(nil)
    package let statistics = Mutex(CommitStatistics())
    /// The same figures, for swift-metrics.
    private let metrics: DurableMetrics.Writer

    // Writer thread only.
    private var keys: IdempotencyKeys
    private var rounds: [UInt64: CommitPlan.RoundProgress] = [:]
    private var history: HistoryWindow
    private var plan = CommitPlan()
    private var lastCommitEnded: UInt64 = 0
    /// Records in the previous commit: only a busy writer lingers.
    private var lastCommitRecords = 0
    /// How long a commit waits after the previous one (process level only).
    private let lingerNanoseconds: UInt64
    /// Each scheduler's releases of the commit under way, and the channel that takes them there.
    private var handOver: [[CommitRelease]]
    private var channels: [ReleaseChannel?]

    /// A commit of at least this many records makes the next one linger.
    package static let lingerAbove = 64
    /// What the writer tells the senders of what it refuses once stopped.
    package static let stoppedReason = IngressRefusal.stopped.description

    /// The node's manual clock, if a test drives it (wall time for key retention and the history window).
    private let clock: ManualClock?
    /// The node whose schedulers the releases go to (for its outside senders' lock).
    // invariant: set once in Node's init, before the first commit; weak: the node owns this writer.
    package nonisolated(unsafe) weak var node: NodeCore?

    package init(journal: Journal, options: DurableOptions, schedulerCount: Int, metrics: DurableMetrics.Writer, clock: ManualClock? = nil) {
        self.metrics = metrics
        self.clock = clock
        self.journal = journal
        self.options = options
        self.schedulerCount = schedulerCount
        keys = IdempotencyKeys(retention: options.keyRetention.nanoseconds)
        history = HistoryWindow(length: options.history.nanoseconds)
        lingerNanoseconds = options.durability == .process ? 300_000 : 0
        handOver = Array(repeating: [], count: schedulerCount)
        channels = Array(repeating: nil, count: schedulerCount)
        releasedThrough = Atomic(journal.lastSeq)
    }

    /// Loads the idempotency keys recovery found (before any commit); the
    /// next checkpoint round writes them to the `keys` database, since the
    /// log it found some of them in may be dropped after that round.
    package func restoreKeys(_ restored: [String: IdempotencyKeys.Entry]) {
        keys.restore(restored)
    }

    // MARK: Intake (any thread)

    /// No checkpoint round finishes from now on: reports gathered after this are ignored.
    package func closeRounds() { roundsClosed.store(true, ordering: .sequentiallyConsistent) }

    /// Whether rounds were closed (`closeRounds`).
    package var roundsAreClosed: Bool { roundsClosed.load(ordering: .sequentiallyConsistent) }

    /// Hands `batch` to the writer.
    package func submit(_ batch: CommitBatch, wake loop: EventLoop) {
        inbox.withLock { $0.batches.append(batch) }
        queuedWork(wake: loop)
    }

    /// Hands one message from outside to the writer: `write` appends its
    /// record to the inbox's bytes; if it throws, nothing is queued.
    /// - Throws: `WriterQueueFull` when `DurableOptions.writerQueueLimit`
    ///   messages from outside wait already; what `write` throws.
    @usableFromInline package func submit(
        key: String?, acceptedAt: UInt64, deliver: any CommittedDelivery, ack: @escaping @Sendable (IngressResult) -> Void,
        wake loop: EventLoop, write: (inout [UInt8]) throws -> Void
    ) throws {
        let limit = options.writerQueueLimit
        try inbox.withLock { inbox in
            guard inbox.ingress.count < limit else { throw WriterQueueFull() }
            let start = inbox.ingressBytes.count
            do {
                try write(&inbox.ingressBytes)
            } catch {
                inbox.ingressBytes.removeSubrange(start...)
                throw error
            }
            inbox.ingress.append(Ingress(key: key, acceptedAt: acceptedAt, record: start..<inbox.ingressBytes.count, deliver: deliver, ack: ack))
            if inbox.ingressSince == nil { inbox.ingressSince = monotonicNanoseconds() }
        }
        queuedWork(wake: loop)
    }

    private func queuedWork(wake loop: EventLoop) {
        queued.store(true, ordering: .sequentiallyConsistent)
        if stopped.load(ordering: .sequentiallyConsistent) { refuseQueued() } else { loop.wake() }
    }

    private func refuseQueued() {
        refuse(inbox.withLock { $0.take() }, reason: Self.stoppedReason)
    }

    // MARK: The writer's loop

    @usableFromInline package func hasPendingWork() -> Bool { queued.load(ordering: .sequentiallyConsistent) }

    @usableFromInline package func runReadyWork(on loop: EventLoop) -> Bool {
        guard queued.load(ordering: .sequentiallyConsistent) else { return false }
        // Without fsync a commit is quick, so under load they would come
        // every few hundred records; lingering a moment after the last one
        // lets more records share one (the CPU goes to the schedulers meanwhile).
        // A light load (a few records per commit) is not made to wait: its latency matters more.
        if lingerNanoseconds > 0, lastCommitRecords >= Self.lingerAbove {
            let since = monotonicNanoseconds() &- lastCommitEnded
            if since < lingerNanoseconds { usleep(UInt32((lingerNanoseconds - since) / 1000)) }
        }
        queued.store(false, ordering: .sequentiallyConsistent)
        let work = inbox.withLock { $0.take() }
        if !work.isEmpty {
            commit(work)
            lastCommitEnded = monotonicNanoseconds()
        }
        return queued.load(ordering: .sequentiallyConsistent)
    }

    @usableFromInline package func loopWillStop(_ loop: EventLoop) {
        // What was submitted after the last run, or is later, is refused: its senders learn it.
        stopped.store(true, ordering: .sequentiallyConsistent)
        refuseQueued()
    }

    // MARK: One commit

    private func commit(_ work: WriterInbox) {
        if let reason = failure.withLock({ $0 }) {
            refuse(work, reason: reason)
            return
        }
        let now = (clock?.wallNow ?? .now).nanosecondsSinceEpoch
        plan.reset()
        plan.gather(work, keys: keys, now: now, rounds: &rounds, schedulerCount: schedulerCount,
                    takesRounds: !roundsClosed.load(ordering: .sequentiallyConsistent))
        let first: UInt64
        do {
            first = try write(plan)
        } catch {
            let reason = "journal commit failed: \(error)"
            failure.withLock { $0 = reason }
            reportProblem("\(reason); the node accepts nothing more until it restarts", level: .critical)
            refuse(work, reason: reason)
            return
        }
        keys.committed(plan.keys, first: first, roundFinished: !plan.finishedRounds.isEmpty)
        for batch in work.batches { batch.commitToken?.markCommitted() }
        release(plan.steps, first: first)
        if !plan.ranges.isEmpty { releasedThrough.store(first &+ UInt64(plan.ranges.count) &- 1, ordering: .releasing) }
        count(work)
        for round in plan.finishedRounds { finish(round, now: now) }
    }

    /// Writes `plan` in one transaction; returns the seq of its first record.
    private func write(_ plan: CommitPlan) throws -> UInt64 {
        guard !plan.writesNothing else { return journal.lastSeq + 1 }
        let checkpointsDB = journal.checkpoints
        let meta = journal.meta
        let keysDB = journal.keys
        let keys = self.keys
        let range = try journal.append(packed: plan.packed, ranges: plan.ranges) { txn, first in
            for checkpoint in plan.checkpoints {
                var value = StoreKey(first &+ UInt64(checkpoint.recordsBefore) &- 1).bytes
                value.append(contentsOf: checkpoint.body)
                try journal.putChecked(txn, checkpointsDB, key: StoreKey(checkpoint.pid), value: value)
            }
            for write in plan.writes { try write(txn) }
            if let round = plan.finishedRounds.last {
                // Everything after the lowest cut must be scanned at the next start.
                try txn.put(meta, key: StoreKey(MetaKey.scanFrom), value: StoreKey(round.cut &+ 1).bytes)
                // A longer key (journaled by a version that took them) cannot be an
                // LMDB key: it is remembered only while its record is in the log.
                for (key, entry) in keys.toPersist(after: plan.keys, first: first) where IdempotencyKeys.fits(key) {
                    try txn.put(keysDB, key: StoreKey(key), value: StoreKey(entry.seq, entry.acceptedAt).bytes)
                }
            }
        }
        return range.lowerBound
    }

    /// Releases what the commit let go, in order: each scheduler's mail and
    /// work go through its release channel together, in commit order; what
    /// runs on this thread (the senders' answers, `.release` work) runs
    /// after everything before it was handed over.
    ///
    /// The writer sends from outside every scheduler, so it reads each
    /// recipient's scheduler and pushes there under the lock such senders
    /// hold (`NodeCore.outsideSends`): a process that moves meanwhile gets
    /// its mail forwarded in order (`Scheduler+Migration`). Nothing that
    /// could take that lock again (an answer, a `.release`) runs under it.
    private func release(_ steps: [CommitPlan.Step], first: UInt64) {
        var start = steps.startIndex
        while start < steps.endIndex {
            var end = start
            while end < steps.endIndex, !steps[end].runsOnWriter { end += 1 }
            let segment = steps[start..<end]
            if segment.isEmpty {
                // Nothing to hand over before this `.release`.
            } else if let node {
                node.outsideSends.withLock { _ in handOver(segment, first: first) }
            } else {
                handOver(segment, first: first)
            }
            for step in segment {
                switch step {
                case .accepted(let index, let ack): ack(.accepted(seq: first &+ UInt64(index)))
                case .duplicate(let seq, let ack): ack(.duplicate(seq: seq))
                case .duplicateInCommit(let index, let ack): ack(.duplicate(seq: first &+ UInt64(index)))
                case .deliver, .releaseOn, .release: break
                }
            }
            if end < steps.endIndex, case .release(let release) = steps[end] { release() }
            start = end + 1
        }
    }

    /// Gathers the mail and scheduler work of `segment` by scheduler and hands each scheduler its part.
    private func handOver(_ segment: ArraySlice<CommitPlan.Step>, first: UInt64) {
        for step in segment {
            switch step {
            case .deliver(let index, let delivery):
                if let scheduler = delivery.committed(seq: first &+ UInt64(index)) { gather(.mail(delivery), for: scheduler) }
            case .releaseOn(let scheduler, let work): gather(.run(work), for: scheduler)
            case .accepted, .duplicate, .duplicateInCommit, .release: break
            }
        }
        handOverReleases()
    }

    private func gather(_ release: CommitRelease, for scheduler: Scheduler) {
        if channels[scheduler.index] == nil { channels[scheduler.index] = ReleaseChannel(scheduler: scheduler) }
        handOver[scheduler.index].append(release)
    }

    /// Pushes each scheduler's releases gathered so far as one hand-over.
    private func handOverReleases() {
        for index in handOver.indices where !handOver[index].isEmpty {
            let releases = handOver[index]
            handOver[index] = []
            // invariant: a channel is made for a scheduler before its first release is gathered.
            channels[index]!.hand(releases)
        }
    }

    /// The commit's figures, for `stats` and the metrics.
    private func count(_ work: WriterInbox) {
        let records = plan.ranges.count
        lastCommitRecords = records
        let finished = monotonicNanoseconds()
        // Latency from each batch's first entry, and from the first message from outside.
        let starts = work.batches.map(\.started) + (work.ingressSince.map { [$0] } ?? [])
        statistics.withLock { stats in
            stats.commits += 1
            stats.records += UInt64(records)
            for started in starts { stats.recordLatency(finished &- started) }
        }
        metrics.commits.increment()
        metrics.records.increment(by: Int64(records))
        for started in starts { metrics.commitDuration.recordNanoseconds(Int64(finished &- started)) }
    }

    /// Tells the senders of `work` that nothing of it was written, and why.
    private func refuse(_ work: WriterInbox, reason: String) {
        let refusal: IngressRefusal = reason == Self.stoppedReason ? .stopped : .storeFailed(reason)
        for batch in work.batches {
            for entry in batch.entries {
                switch entry {
                case .ingress(let ingress):
                    ingress.deliver.notDelivered()
                    ingress.ack(.failed(refusal))
                case .outcome(let tell): tell(reason)
                default: break
                }
            }
        }
        for ingress in work.ingress {
            ingress.deliver.notDelivered()
            ingress.ack(.failed(refusal))
        }
    }

    // MARK: Rounds

    /// After a round's commit: forget expired keys, drop log records outside
    /// the history window that no process needs.
    private func finish(_ round: CommitPlan.RoundProgress, now: UInt64) {
        let expired = keys.expire(now: now)
        let boundary = history.roundFinished(at: now, scanFrom: round.cut &+ 1, lowestPending: round.lowestPending)
        let keysDB = journal.keys
        do {
            if !expired.isEmpty {
                try journal.environment.write { txn in
                    for key in expired { _ = try txn.delete(keysDB, key: StoreKey(key)) }
                }
            }
            if boundary > 1 {
                let dropped = try journal.dropRecords(before: boundary)
                statistics.withLock { $0.dropped += UInt64(dropped) }
            }
        } catch {
            // Tidying only: the records and keys stay, and the next round tries again.
            reportProblem("could not drop old journal records: \(error)")
        }
    }
}
