import CalfLoop
import CalfStore
import Glibc
import Synchronization

/// The one writer of a node's journal: takes the batches schedulers and
/// senders from outside submit, commits all that are waiting in one LMDB
/// write transaction (group commit: one fsync for all), then releases their
/// outputs in commit order. Schedulers keep running while a commit is in
/// flight (pipelining).
///
/// Every delivery of a committed message goes from this one thread through
/// its recipient scheduler's MPSC queue (a commit's mail for one scheduler
/// as one delivery, `CommittedMailSink`), so a process receives its
/// journaled mail in seq order, and `releasedThrough` tells a scheduler
/// which accepted records are surely in its mailboxes once it drains its queue.
///
/// Thread ownership: `queue` and the atomics are shared; everything else
/// belongs to the writer's loop thread.
@usableFromInline
final class CommitWriter: LoopDriver, @unchecked Sendable {
    let journal: Journal
    private let options: DurableOptions
    private let schedulerCount: Int
    private let queue = Mutex<[CommitBatch]>([])
    /// Messages from outside, queued on their own (no batch object each).
    private let ingressQueue = Mutex(IngressQueue())
    private let queued = Atomic<Bool>(false)
    /// Every accepted record up to this seq has been handed to its recipient.
    let releasedThrough: Atomic<UInt64>
    /// Set when a commit failed: the journal no longer matches memory, so
    /// nothing more is accepted until the node restarts (and recovers).
    let failure = Mutex<String?>(nil)
    let statistics = Mutex(CommitStatistics())
    /// The same figures, for swift-metrics.
    private let metrics: NodeMetrics.Writer

    // Writer thread only.
    private var keys: [String: KeyEntry] = [:]
    private var keysSinceRound: [String] = []
    private var rounds: [UInt64: RoundProgress] = [:]
    private var lastCommitEnded: UInt64 = 0
    /// Records in the previous commit: only a busy writer lingers.
    private var lastCommitRecords = 0
    /// How long a commit waits after the previous one (process level only).
    private let lingerNanoseconds: UInt64
    private var packedScratch: [UInt8] = []
    private var rangesScratch: [Range<Int>] = []
    private var afterScratch: [AfterCommit] = []
    /// Each scheduler's mail of the commit under way, and the sink that takes it there.
    private var handOver: [[any CommittedDelivery]]
    private var sinks: [CommittedMailSink?]
    /// (wall time, first seq kept) of past rounds, oldest first, for the history window.
    private var roundMarks: [(time: UInt64, scanFrom: UInt64, lowestPending: UInt64)] = []

    struct KeyEntry {
        var seq: UInt64
        var acceptedAt: UInt64
    }

    private struct RoundProgress {
        var reports = 0
        var cut = UInt64.max
        var lowestPending = UInt64.max
    }

    init(journal: Journal, options: DurableOptions, schedulerCount: Int, metrics: NodeMetrics.Writer) {
        self.metrics = metrics
        self.journal = journal
        self.options = options
        self.schedulerCount = schedulerCount
        lingerNanoseconds = options.durability == .process ? 300_000 : 0
        handOver = Array(repeating: [], count: schedulerCount)
        sinks = Array(repeating: nil, count: schedulerCount)
        releasedThrough = Atomic(journal.lastSeq)
    }

    /// Loads the idempotency keys recovery found (before any commit); the
    /// next checkpoint round writes them to the `keys` database, since the
    /// log it found some of them in may be dropped after that round.
    func restoreKeys(_ restored: [String: KeyEntry]) {
        keys = restored
        keysSinceRound = Array(restored.keys)
    }

    /// Hands `batch` to the writer (any thread).
    func submit(_ batch: CommitBatch, wake loop: EventLoop) {
        queue.withLock { $0.append(batch) }
        queued.store(true, ordering: .sequentiallyConsistent)
        if stopped.load(ordering: .sequentiallyConsistent) { refuseQueued() } else { loop.wake() }
    }

    /// Hands one message from outside to the writer (any thread): `write`
    /// appends its record to the queue's bytes; if it throws, nothing is queued.
    @usableFromInline func submit(
        key: String?, acceptedAt: UInt64, deliver: any CommittedDelivery, ack: @escaping @Sendable (IngressResult) -> Void,
        wake loop: EventLoop, write: (inout [UInt8]) throws -> Void
    ) throws {
        try ingressQueue.withLock { queue in
            let start = queue.bytes.count
            do {
                try write(&queue.bytes)
            } catch {
                queue.bytes.removeSubrange(start...)
                throw error
            }
            queue.items.append(Ingress(key: key, acceptedAt: acceptedAt, record: start..<queue.bytes.count, deliver: deliver, ack: ack))
        }
        queued.store(true, ordering: .sequentiallyConsistent)
        if stopped.load(ordering: .sequentiallyConsistent) { refuseQueued() } else { loop.wake() }
    }

    /// Takes every queued message from outside, with their bytes.
    private func takeIngress() -> IngressQueue {
        ingressQueue.withLock { queue in
            var taken = IngressQueue()
            swap(&taken, &queue)
            queue.items.reserveCapacity(taken.items.count)
            queue.bytes.reserveCapacity(taken.bytes.count)
            return taken
        }
    }

    /// Set when the writer's loop stops: what is submitted afterwards is
    /// refused at once (its senders would otherwise wait forever).
    private let stopped = Atomic<Bool>(false)

    private func refuseQueued() {
        let batches = queue.withLock { waiting -> [CommitBatch] in
            let taken = waiting
            waiting.removeAll()
            return taken
        }
        let ingress = takeIngress()
        for batch in batches { refuse(batch, reason: Self.stoppedReason) }
        for item in ingress.items { item.ack(.failed(.stopped)) }
    }

    /// What the writer tells the senders of what it refuses once stopped.
    static let stoppedReason = IngressRefusal.stopped.description

    /// A commit of at least this many records makes the next one linger.
    static let lingerAbove = 64

    @usableFromInline func hasPendingWork() -> Bool { queued.load(ordering: .sequentiallyConsistent) }

    @usableFromInline func runReadyWork(on loop: EventLoop) -> Bool {
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
        let batches = queue.withLock { waiting -> [CommitBatch] in
            let taken = waiting
            waiting.removeAll(keepingCapacity: true)
            return taken
        }
        let ingress = takeIngress()
        if !batches.isEmpty || !ingress.items.isEmpty {
            let loose = CommitBatch()
            loose.bytes = ingress.bytes
            loose.entries = ingress.items.map { .ingress($0) }
            commit(ingress.items.isEmpty ? batches : batches + [loose])
            lastCommitEnded = monotonicNanoseconds()
        }
        return queued.load(ordering: .sequentiallyConsistent)
    }

    @usableFromInline func loopWillStop(_ loop: EventLoop) {
        // Batches submitted after the last run, or later, are refused: their senders learn it.
        stopped.store(true, ordering: .sequentiallyConsistent)
        refuseQueued()
    }

    // MARK: Committing

    private enum AfterCommit {
        case deliver(index: Int, any CommittedDelivery)
        case accepted(index: Int, @Sendable (IngressResult) -> Void)
        case duplicate(seq: UInt64, @Sendable (IngressResult) -> Void)
        case duplicateInCommit(index: Int, @Sendable (IngressResult) -> Void)
        case release(@Sendable () -> Void)
    }

    private func commit(_ batches: [CommitBatch]) {
        if let reason = failure.withLock({ $0 }) {
            for batch in batches { refuse(batch, reason: reason) }
            return
        }
        // Every record of the commit, copied into one buffer (reused).
        var packed = packedScratch
        var ranges = rangesScratch
        var after = afterScratch
        packed.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
        after.removeAll(keepingCapacity: true)
        defer {
            after.removeAll(keepingCapacity: true)
            packedScratch = packed
            rangesScratch = ranges
            afterScratch = after
        }
        func add(_ record: [UInt8]) {
            ranges.append(packed.count..<(packed.count + record.count))
            packed.append(contentsOf: record)
        }
        var checkpoints: [(pid: UInt64, recordsBefore: Int, body: [UInt8])] = []
        var writes: [@Sendable (Transaction) throws -> Void] = []
        var keysInCommit: [String: (index: Int, acceptedAt: UInt64)] = [:]
        var finishedRounds: [RoundProgress] = []
        let now = WallTime.now.nanosecondsSinceEpoch
        let retention = options.keyRetention.nanoseconds
        for batch in batches {
            let base = packed.count
            packed.append(contentsOf: batch.bytes)
            for entry in batch.entries {
                switch entry {
                case .packed(let range, let deliver):
                    if let deliver { after.append(.deliver(index: ranges.count, deliver)) }
                    ranges.append((range.lowerBound + base)..<(range.upperBound + base))
                case .record(let bytes, let deliver):
                    if let deliver { after.append(.deliver(index: ranges.count, deliver)) }
                    add(bytes)
                case .ingress(let ingress):
                    if let key = ingress.key {
                        if let seen = keys[key], now &- seen.acceptedAt < retention {
                            after.append(.duplicate(seq: seen.seq, ingress.ack))
                            continue
                        }
                        if let earlier = keysInCommit[key] {
                            after.append(.duplicateInCommit(index: earlier.index, ingress.ack))
                            continue
                        }
                        keysInCommit[key] = (ranges.count, ingress.acceptedAt)
                    }
                    after.append(.deliver(index: ranges.count, ingress.deliver))
                    after.append(.accepted(index: ranges.count, ingress.ack))
                    ranges.append((ingress.record.lowerBound + base)..<(ingress.record.upperBound + base))
                case .checkpoint(let pid, let body):
                    checkpoints.append((pid, ranges.count, body))
                case .write(let write):
                    writes.append(write)
                case .release(let release):
                    after.append(.release(release))
                case .outcome(let tell):
                    after.append(.release { tell(nil) })
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
        }
        let first: UInt64
        if ranges.isEmpty, checkpoints.isEmpty, writes.isEmpty, finishedRounds.isEmpty {
            first = journal.lastSeq + 1
        } else {
            let newKeys = keysSinceRound + keysInCommit.keys
            let keySnapshot = finishedRounds.isEmpty ? [:] : keys
            let checkpointsDB = journal.checkpoints
            let meta = journal.meta
            let keysDB = journal.keys
            do {
                let range = try journal.append(packed: packed, ranges: ranges) { txn, first in
                    for checkpoint in checkpoints {
                        let stateSeq = first &+ UInt64(checkpoint.recordsBefore) &- 1
                        var value = StoreKey(stateSeq).bytes
                        value.append(contentsOf: checkpoint.body)
                        try journal.putChecked(txn, checkpointsDB, key: StoreKey(checkpoint.pid), value: value)
                    }
                    for write in writes { try write(txn) }
                    if let round = finishedRounds.last {
                        // Everything after the lowest cut must be scanned at the next start.
                        try txn.put(meta, key: StoreKey(MetaKey.scanFrom), value: StoreKey(round.cut &+ 1).bytes)
                        for key in newKeys {
                            let entry: KeyEntry
                            if let fresh = keysInCommit[key] {
                                entry = KeyEntry(seq: first &+ UInt64(fresh.index), acceptedAt: fresh.acceptedAt)
                            } else if let known = keySnapshot[key] {
                                entry = known
                            } else {
                                continue
                            }
                            try txn.put(keysDB, key: StoreKey(key), value: StoreKey(entry.seq, entry.acceptedAt).bytes)
                        }
                    }
                }
                first = range.lowerBound
            } catch {
                let reason = "journal commit failed: \(error)"
                failure.withLock { $0 = reason }
                reportProblem("\(reason); the node accepts nothing more until it restarts", level: .critical)
                for batch in batches { refuse(batch, reason: reason) }
                return
            }
        }
        for (key, fresh) in keysInCommit {
            keys[key] = KeyEntry(seq: first &+ UInt64(fresh.index), acceptedAt: fresh.acceptedAt)
        }
        if finishedRounds.isEmpty {
            keysSinceRound.append(contentsOf: keysInCommit.keys)
        } else {
            keysSinceRound.removeAll()
        }
        for batch in batches { batch.commitToken?.markCommitted() }
        // Mail goes to each scheduler together, in seq order; mail before a
        // release is handed over before it runs (the order of old).
        for step in after {
            switch step {
            case .deliver(let index, let delivery):
                if let scheduler = delivery.committed(seq: first &+ UInt64(index)) {
                    if sinks[scheduler.index] == nil { sinks[scheduler.index] = CommittedMailSink(scheduler: scheduler) }
                    handOver[scheduler.index].append(delivery)
                }
            case .accepted(let index, let ack): ack(.accepted(seq: first &+ UInt64(index)))
            case .duplicate(let seq, let ack): ack(.duplicate(seq: seq))
            case .duplicateInCommit(let index, let ack): ack(.duplicate(seq: first &+ UInt64(index)))
            case .release(let release):
                handOverMail()
                release()
            }
        }
        handOverMail()
        let last = first &+ UInt64(ranges.count) &- 1
        if !ranges.isEmpty { releasedThrough.store(last, ordering: .releasing) }
        lastCommitRecords = ranges.count
        let finished = monotonicNanoseconds()
        statistics.withLock { stats in
            stats.commits += 1
            stats.records += UInt64(ranges.count)
            for batch in batches { stats.recordLatency(finished &- batch.started) }
        }
        metrics.commits.increment()
        metrics.records.increment(by: Int64(ranges.count))
        for batch in batches { metrics.commitDuration.recordNanoseconds(Int64(finished &- batch.started)) }
        for round in finishedRounds { finishRound(round, now: now) }
    }

    /// Pushes each scheduler's mail gathered so far as one delivery.
    private func handOverMail() {
        for index in handOver.indices where !handOver[index].isEmpty {
            let mails = handOver[index]
            handOver[index] = []
            // invariant: a sink is made for a scheduler before its first mail is gathered.
            sinks[index]!.hand(mails)
        }
    }

    private func refuse(_ batch: CommitBatch, reason: String) {
        for entry in batch.entries {
            switch entry {
            case .ingress(let ingress): ingress.ack(.failed(reason == Self.stoppedReason ? .stopped : .storeFailed(reason)))
            case .outcome(let tell): tell(reason)
            default: break
            }
        }
    }

    // MARK: Rounds

    /// After a round's commit: forget expired keys, drop log records outside
    /// the history window that no process needs.
    private func finishRound(_ round: RoundProgress, now: UInt64) {
        let retention = options.keyRetention.nanoseconds
        var expired: [String] = []
        for (key, entry) in keys where now &- entry.acceptedAt >= retention { expired.append(key) }
        for key in expired { keys[key] = nil }
        roundMarks.append((now, round.cut &+ 1, round.lowestPending))
        let history = options.history.nanoseconds
        // The newest round older than the window bounds what may go.
        var boundary: UInt64 = 0
        while let oldest = roundMarks.first, now &- oldest.time >= history {
            boundary = min(oldest.scanFrom, round.lowestPending, round.cut &+ 1)
            roundMarks.removeFirst()
        }
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
