extension Scheduler {
    /// The batch this scheduler's durable outcomes go into (created on first use).
    @usableFromInline var durableBatch: CommitBatch {
        if let batch = pendingBatch { return batch }
        let batch = CommitBatch()
        pendingBatch = batch
        return batch
    }

    /// Hands the collected outcomes to the writer (end of every run of ready work).
    func flushDurable() {
        guard let batch = pendingBatch else { return }
        pendingBatch = nil
        guard !batch.isEmpty, let durable = node.durable else { return }
        durable.submit(batch)
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
    func checkpointRound(_ round: UInt64, cut: UInt64, durable: DurableCore) {
        takeAllRemote()
        var lowestPending = UInt64.max
        var pin = durable.pinnedScanFrom.load(ordering: .relaxed)
        let batch = durableBatch
        for cell in processes.values where cell.isJournaled {
            let mark = cell.checkpointForRound(into: batch)
            lowestPending = min(lowestPending, mark.lowestPending)
            pin = min(pin, mark.keepFrom)
        }
        let reported = pin == .max ? cut : min(cut, pin &- 1)
        batch.entries.append(.round(CheckpointRoundReport(round: round, cut: reported, lowestPending: lowestPending)))
    }
}
