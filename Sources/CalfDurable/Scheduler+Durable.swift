import CalfControl
import CalfRuntime

/// What the durable layer keeps on one scheduler: the batch its durable
/// processes' outcomes go into until the run of ready work ends, and those
/// processes themselves (for checkpoint rounds).
///
/// Thread ownership: the scheduler's thread only.
package final class DurableScheduling: SchedulerAttachment {
    /// Durable outcomes collected since the last flush to the writer.
    @exclusivity(unchecked) package var pendingBatch: CommitBatch?
    /// The durable processes at work here, each knowing its place in the
    /// array (`roundIndex`): entering and leaving cost no hashing (a
    /// dictionary by pid was 3 % of bringing a million passivated processes
    /// back, a third more than the scheduler's own table of processes).
    @exclusivity(unchecked) package private(set) var cells: [any RoundCheckpointing] = []
    /// The node's durable layer, found at the first flush.
    private var durable: DurableCore?
    /// How often its processes are looked at for passivation (nil: no sweep
    /// armed yet; the shortest asked for by a process put to work here).
    private var sweepPeriod: Duration?
    private var sweepTimer: TimerRef?
    /// The behavior value last decoded here for a process brought back,
    /// with its type and spec bytes: processes of one behavior mostly share
    /// their spec, so the next with the same bytes takes that value instead
    /// of a `Codable` decode. Only for a behavior type with no references
    /// in it (`_isPOD`): a copy of such a value is the value its bytes
    /// decode to, where a class inside one would be shared by processes
    /// that each had their own. This scheduler's thread only.
    @exclusivity(unchecked) package var lastSpec: (type: ObjectIdentifier, bytes: [UInt8], behavior: any Sendable)?

    package init() {}

    /// Enters `cell` (at work here from now on); nothing if it is in already.
    package func add(_ cell: any RoundCheckpointing) {
        guard cell.roundIndex < 0 else { return }
        cell.roundIndex = cells.count
        cells.append(cell)
    }

    /// Takes `cell` out (it left this scheduler or RAM, or exited); nothing if it is not in.
    package func remove(_ cell: any RoundCheckpointing) {
        let index = cell.roundIndex
        guard index >= 0, index < cells.count, cells[index] === cell else { return }
        cell.roundIndex = -1
        let last = cells.removeLast()
        guard index < cells.count else { return }
        cells[index] = last
        last.roundIndex = index
    }

    /// Looks at its processes for passivation at least every `period` from now on.
    package func sweep(every period: Duration, on scheduler: Scheduler) {
        if let current = sweepPeriod, current <= period { return }
        sweepPeriod = period
        if let sweepTimer { _ = scheduler.cancelTimer(sweepTimer) }
        armSweep(on: scheduler)
    }

    private func armSweep(on scheduler: Scheduler) {
        guard let period = sweepPeriod else { return }
        sweepTimer = scheduler.addTimer(after: period) { [self] scheduler in
            let now = scheduler.now
            // (A copy of the array is iterated: passivating takes cells out.)
            for cell in cells { cell.considerPassivation(now: now) }
            armSweep(on: scheduler)
        }
    }

    /// Hands the collected outcomes to the writer (the end of every run of ready work).
    package func runEnded(_ scheduler: Scheduler) {
        guard let batch = pendingBatch else { return }
        pendingBatch = nil
        guard !batch.isEmpty else { return }
        // Looked up once: the durable layer is attached before any process runs.
        if durable == nil { durable = scheduler.node.durable }
        durable?.submit(batch)
    }
}

/// A durable process as a checkpoint round sees it.
package protocol RoundCheckpointing: AnyObject {
    /// Its place in its scheduler's `DurableScheduling.cells` (-1: not in it).
    var roundIndex: Int { get set }
    /// Adds its snapshot to `batch` if it changed; returns its lowest
    /// pending seq and the seq the log scan must keep starting at or before
    /// for it (`UInt64.max`: none).
    func checkpointForRound(into batch: CommitBatch) -> (lowestPending: UInt64, keepFrom: UInt64)
    /// Passivates it if it has been idle for its `passivateAfter` (a sweep,
    /// `DurableScheduling.sweep`; `now` is the scheduler's clock).
    func considerPassivation(now: UInt64)
}

extension Scheduler {
    /// The durable layer's part of this scheduler (made on first use; loop thread).
    package var durableScheduling: DurableScheduling {
        attachment(DurableScheduling.self) { DurableScheduling() }
    }

    /// The batch this scheduler's durable outcomes go into (created on first use).
    @usableFromInline package var durableBatch: CommitBatch {
        let scheduling = durableScheduling
        if let batch = scheduling.pendingBatch { return batch }
        let batch = CommitBatch()
        scheduling.pendingBatch = batch
        return batch
    }

    /// The batch collected so far, if any (loop thread).
    package var pendingBatch: CommitBatch? { durableScheduling.pendingBatch }

    /// Hands the collected outcomes to the writer now.
    package func flushDurable() {
        durableScheduling.runEnded(self)
    }

    /// This scheduler's part of checkpoint round `round`: takes in all mail
    /// committed so far, snapshots every changed durable process, reports.
    /// `cut` was read when the round began: every commit up to it had
    /// pushed its releases (mail, timers to arm, spawned processes to start)
    /// into this scheduler's release channel before this job, and
    /// `takeAllRemote` runs them first, so its snapshots hold what those
    /// records say. (Read here instead, it could include a commit whose
    /// releases come after this job: a timer or a child journaled before the
    /// cut but in no snapshot, lost at the next start.)
    package func checkpointRound(_ round: UInt64, cut: UInt64, durable: DurableCore) {
        takeAllRemote()
        var lowestPending = UInt64.max
        var pin = durable.pinnedScanFrom.load(ordering: .relaxed)
        let batch = durableBatch
        for cell in durableScheduling.cells {
            let mark = cell.checkpointForRound(into: batch)
            lowestPending = min(lowestPending, mark.lowestPending)
            pin = min(pin, mark.keepFrom)
        }
        let reported = pin == .max ? cut : min(cut, pin &- 1)
        batch.entries.append(.round(CheckpointRoundReport(round: round, cut: reported, lowestPending: lowestPending)))
    }
}
