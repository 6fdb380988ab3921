import CalfStore
import Synchronization
import CalfControl
import CalfRuntime

extension DurableCore {
    // MARK: Dead letters and checkpoints

    /// Journals `mail` as a dead letter of `cell` (a poison message).
    package func deadLetter<M>(_ mail: CommittedMail<M>, of cell: DurableCellBase<M>, error: String, failures: Int) {
        table.withLock { $0.deadLettered += 1 }
        let pid = cell.pid.serial
        var detail = ByteWriter()
        detail.varint(mail.seq)
        detail.varint(UInt64(failures))
        detail.string(error)
        let dead = journal.dead
        let seq = mail.seq
        let acceptedAt = mail.acceptedAt
        let payload = (try? cell.codec.encode(mail.message)) ?? []
        var value = ByteWriter()
        value.varint(acceptedAt)
        value.varint(UInt64(failures))
        value.string(error)
        value.rest(payload)
        let stored = value.bytes
        let batch = cell.outcomesBatch
        batch.entries.append(.record(LogRecord.lifecycle(pid: pid, event: .deadLettered, detail: detail.bytes).encoded(), deliver: nil))
        batch.entries.append(.write { txn in try txn.put(dead, key: StoreKey(pid, seq), value: stored) })
        if let slot = mail.slot {
            batch.entries.append(.release { slot.complete(.failure(.exited(.error(DurableError.poisonMessage("\(error)"))))) })
        }
    }

    /// The committed snapshot of `pid`: the log position its state reflects, and the snapshot.
    package func loadCheckpoint(_ pid: Pid) throws -> (stateSeq: UInt64, body: CheckpointBody)? {
        let checkpoints = journal.checkpoints
        let journal = self.journal
        return try journal.environment.read { txn -> (UInt64, CheckpointBody)? in
            guard let value = try journal.checkedValue(txn, checkpoints, key: StoreKey(pid.serial)) else { return nil }
            guard value.count >= 8, let stateSeq = StoreKey.uint64(in: value) else {
                throw LogRecordError(seq: nil, pid: pid.serial, reason: "checkpoint of \(pid) is \(value.count) bytes")
            }
            return (stateSeq, try CheckpointBody(decoding: UnsafeRawBufferPointer(rebasing: value[8...]), pid: pid.serial))
        }
    }

    /// Runs a checkpoint round: every scheduler snapshots its changed
    /// processes; `done` runs once all of that has committed.
    /// No durable process moves between schedulers from the round's start
    /// until every scheduler has done its part (`DurableMoveGate`).
    package func checkpointRound(done: (@Sendable () -> Void)? = nil) {
        // The node is stopping its processes: a round would miss them (`nodeWillStopProcesses`).
        guard !writer.roundsAreClosed else {
            done?()
            return
        }
        moveGate.beginRound { [self] in
            let round = nextRound.wrappingAdd(1, ordering: .relaxed).oldValue
            let finished = Countdown(count: schedulers.count, done: done)
            let parts = Countdown(count: schedulers.count) { [moveGate] in moveGate.endRound() }
            // Before the jobs are queued: see Scheduler.checkpointRound.
            let cut = writer.releasedThrough.load(ordering: .acquiring)
            for scheduler in schedulers {
                scheduler.loop.execute { [self] in
                    scheduler.checkpointRound(round, cut: cut, durable: self)
                    // An outcome, not a release: a writer that refuses the batch (a
                    // failed commit latched) still ends the round, so a stop does not wait for it.
                    scheduler.durableBatch.entries.append(.outcome { _ in finished.tick() })
                    scheduler.flushDurable()
                    parts.tick()
                }
            }
        }
    }
}
