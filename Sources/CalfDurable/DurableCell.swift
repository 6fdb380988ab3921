import CalfStore
import CalfControl
import CalfRuntime

/// A durable process running a concrete behavior: its turn, its snapshots,
/// and its rebuild by replay.
///
/// Thread ownership: as `DurableCellBase`; `state` belongs to the scheduler
/// thread; `replayFunction` is set while the cell is made and only read afterwards.
@usableFromInline
package final class DurableCell<B: DurableBehavior>: DurableCellBase<B.Message>, @unchecked Sendable {
    @usableFromInline package let behavior: B
    /// The behavior as the journal keeps it.
    package let spec: [UInt8]
    @usableFromInline @exclusivity(unchecked) package var state: B.State
    /// Messages handled since the last snapshot, with their output digests
    /// (what a rebuild replays).
    @usableFromInline @exclusivity(unchecked) package var sinceSnapshot: [LogRecord.Handled] = []
    /// The message failing in a row, and how many times.
    @usableFromInline @exclusivity(unchecked) package var failing: (seq: UInt64, count: Int)?
    @usableFromInline package let snapshotEvery: Int
    /// The behavior's snapshot interval in nanoseconds (0: none), and when the last snapshot was taken (monotonic).
    package let snapshotIntervalNanoseconds: UInt64
    @exclusivity(unchecked) package var lastSnapshot: UInt64 = 0
    /// The rebuild under way starts from the initial state.
    @exclusivity(unchecked) package var freshRestart = false
    /// The commit of its last snapshot (nil: none taken in this run).
    @exclusivity(unchecked) package var snapshotToken: CommitToken?
    /// How its state is written to snapshots and read back.
    package let stateCodec: JournalCodec<B.State>
    /// `handled` when a passivation sweep last saw it change, and when that
    /// was (its idle time starts there; nothing is counted on the hot path).
    @exclusivity(unchecked) package var idleHandled: UInt64 = .max
    @exclusivity(unchecked) package var idleSince: UInt64 = 0
    /// Runs the handler over journaled messages; replaced by the behavior's
    /// specialized copy (`DurableRuntime`).
    @usableFromInline @exclusivity(unchecked) package var replayFunction: (DurableCell<B>, ReplayLog, inout B.State) throws -> Void = { cell, log, state in
        try cell.replayDecoding(log, onto: &state)
    }

    package init(behavior: B, spec: [UInt8], state: B.State, pid: Pid, scheduler: Scheduler, durable: DurableCore, name: String?) {
        self.behavior = behavior
        self.spec = spec
        self.state = state
        stateCodec = durable.codec(B.State.self)
        snapshotEvery = max(1, behavior.snapshotEvery ?? durable.options.snapshotEvery)
        snapshotIntervalNanoseconds = behavior.snapshotInterval?.nanoseconds ?? 0
        let passivateAfter = durable.options.inspecting ? 0 : (behavior.passivateAfter ?? durable.options.passivateAfter).map { max(1, $0.nanoseconds) } ?? 0
        super.init(pid: pid, scheduler: scheduler, durable: durable, name: name, mailboxLimit: behavior.mailboxLimit)
        passivateAfterNanoseconds = passivateAfter
        // The behavior's own module's copy, specialized for its types; else
        // (a runtime of another behavior) this module's generic one.
        if !B._durableRuntime.install(self) { Self.installSpecialized(on: self) }
        // invariant: without its journaling intake a durable cell would take mail from outside past the journal.
        precondition(intake is JournalingTarget<B.Message>, "a durable cell without its journaling intake")
    }

    /// Sets the turn, the mail functions and the replay of `cell`, specialized where `B` is concrete.
    @inlinable
    package static func installSpecialized(on cell: DurableCell<B>) {
        cell.turn = { cell, budget in unsafeDowncast(cell, to: DurableCell<B>.self).runTurn(budget: budget) }
        cell.remoteAcceptor = MailboxCell<B.Message>.remoteAcceptorFunction
        cell.intake = JournalingTarget<B.Message>(take: { cell, envelope, current in
            // The journal's writer is another thread: what the sender's scheduler gathered goes first.
            current?.flushOutgoing()
            return unsafeDowncast(cell, to: DurableCellBase<B.Message>.self).journalIngress(envelope)
        }, journalOutput: { cell, message, acceptedAt, bytes in
            unsafeDowncast(cell, to: DurableCellBase<B.Message>.self).journalOutput(message, acceptedAt: acceptedAt, into: &bytes)
        })
        cell.acceptCommittedFunction = { cell, mail in
            cell.dirty = true
            cell.acceptRemote(.committed(mail))
        }
        cell.replayFunction = { cell, log, state in try cell.replayDecoding(log, onto: &state) }
    }

    package override var behaviorName: String { B.behaviorName }

    // MARK: Turn

    /// Handles up to `budget` journaled messages; their outcomes go into the
    /// scheduler's commit batch, one progress record for the turn.
    @inlinable
    package func runTurn(budget: Int) -> Bool {
        guard phase == .running else { return false }
        var handled: [LogRecord.Handled] = []
        var count = 0
        var stopReason: ExitReason?
        defer { self.handled &+= UInt64(count) }
        turn: while count < budget {
            let mail: CommittedMail<B.Message>
            if let retried = retry {
                retry = nil
                mail = retried
            } else {
                guard let envelope = mailbox.popFirst() else { break }
                switch consume envelope {
                case .committed(let journaled):
                    if journaled.fromOutside { outsideMailTaken() }
                    mail = journaled
                case .stop(let reason):
                    stopReason = reason
                    break turn
                case .signal(let signal):
                    if case .exit(_, let reason) = signal, !reason.isNormal, !trapExit {
                        commitProgress(handled)
                        restartByReplay(retrying: nil, reason: reason)
                        return false
                    }
                    continue
                case .message(let message):
                    // invariant: mail to a durable cell is journaled before it reaches the mailbox.
                    scheduler.node.deadLetter(Envelope<B.Message>.message(message), to: pid)
                    continue
                case .call(let message, let slot):
                    scheduler.node.deadLetter(Envelope<B.Message>.call(message, slot), to: pid)
                    continue
                }
            }
            count &+= 1
            let batch = outcomesBatch
            let mark = batch.mark
            let timerReleasesBefore = timerReleasesAwaited
            var context = DurableContext<B.Message>(cell: self, seq: mail.seq, acceptedAt: mail.acceptedAt, slot: mail.slot, batch: batch)
            if let trace { traceReceived(Envelope<B.Message>.committed(mail), on: trace) }
            do {
                try behavior.handle(mail.message, state: &state, context: &context)
                if let failure = context.failure { throw failure }
            } catch let exit as Exit where exit.reason == .normal || exit.reason == .shutdown {
                context.stopReason = exit.reason
            } catch {
                // Its outputs are discarded with it (its timer work too).
                batch.cut(to: mark)
                timerReleasesAwaited = timerReleasesBefore
                commitProgress(handled)
                crashed(on: mail, error: error)
                return false
            }
            let entry = LogRecord.Handled(seq: mail.seq, digest: context.digest.value)
            handled.append(entry)
            sinceSnapshot.append(entry)
            if failing?.seq == mail.seq { failing = nil }
            dirty = true
            if let reason = context.stopReason {
                stopReason = reason
                break turn
            }
        }
        commitProgress(handled)
        if let stopReason {
            stopForGood(reason: stopReason)
            return false
        }
        if sinceSnapshot.count >= snapshotEvery || snapshotIsDue(), let entry = snapshotEntry() {
            outcomesBatch.entries.append(entry)
        }
        return retry != nil || !mailbox.isEmpty
    }

    @usableFromInline package func commitProgress(_ handled: [LogRecord.Handled]) {
        guard !handled.isEmpty else { return }
        let record = LogRecord.progress(pid: pid.serial, handled: handled)
        outcomesBatch.appendRecord { record.encode(into: &$0) }
    }

    // MARK: Snapshots

    @usableFromInline package func snapshotIsDue() -> Bool {
        guard snapshotIntervalNanoseconds > 0, !sinceSnapshot.isEmpty else { return false }
        return scheduler.now &- lastSnapshot >= snapshotIntervalNanoseconds
    }

    /// The process's snapshot as a checkpoint entry (nil, and the process
    /// quarantined, if its state does not encode); `passivated` for the
    /// one it leaves RAM with.
    @usableFromInline package func snapshotEntry(passivated: Bool = false) -> CommitEntry? {
        let stateBytes: [UInt8]
        do {
            stateBytes = try stateCodec.encode(state)
        } catch {
            quarantine("its state does not encode: \(error)")
            return nil
        }
        let body = CheckpointBody(
            behavior: B.behaviorName, spec: spec, name: name, state: stateBytes,
            incarnation: incarnation, handled: handled, pending: pendingSeqs,
            timers: timers.values.map(\.timer).sorted { $0.id < $1.id },
            restarts: restarts, effects: durable.effects.pending(of: pid.serial), passivated: passivated
        )
        sinceSnapshot.removeAll(keepingCapacity: true)
        dirty = false
        // Every caller appends the entry to the scheduler's batch.
        snapshotToken = outcomesBatch.tokenForCommit()
        if snapshotIntervalNanoseconds > 0 { lastSnapshot = scheduler.now }
        return .checkpoint(pid: pid.serial, body: body.encoded())
    }

    /// See `RoundCheckpointing` (`Passivation.swift`).
    package override func considerPassivation(now: UInt64) { passivateIfIdle(now: now) }

    /// Adds its snapshot to `batch` if it changed; returns its lowest
    /// pending seq and the seq the log scan must keep starting at or before
    /// for it (`UInt64.max`: none).
    package override func checkpointForRound(into batch: CommitBatch) -> (lowestPending: UInt64, keepFrom: UInt64) {
        let pending = pendingSeqs
        let lowest = pending.min() ?? .max
        switch phase {
        case .running:
            guard dirty else { return (lowest, .max) }
            if let entry = snapshotEntry() {
                batch.entries.append(entry)
                lastBatchSerial = batch.serial
                return (lowest, .max)
            }
        case .recovering, .quarantined, .stopping, .passivated:
            // (Stopping: its exit, journaled or on its way, deletes its
            // snapshot; a snapshot taken now could commit after that and
            // bring it back at a later start.)
            break
        }
        // No snapshot now: what it handled and what waits must stay in the scan.
        return (lowest, min(lowest, sinceSnapshot.map(\.seq).min() ?? .max))
    }

    // MARK: Crashes and restarts

    @usableFromInline package func crashed(on mail: CommittedMail<B.Message>, error: any Error) {
        let failures = failing?.seq == mail.seq ? failing!.count + 1 : 1
        failing = (mail.seq, failures)
        if failures >= durable.options.maximumFailures {
            failing = nil
            durable.deadLetter(mail, of: self, error: "\(error)", failures: failures)
            restartByReplay(retrying: nil, reason: .error(error), retry: failures > 1)
        } else {
            restartByReplay(retrying: mail, reason: .error(error), retry: failures > 1)
        }
    }

    @usableFromInline package override func restartByReplay(retrying failed: CommittedMail<B.Message>?, reason: ExitReason, retry isRetry: Bool = false) {
        phase = .recovering
        if let failed { retry = failed }
        let guardian = durable.guardian(of: pid)
        freshRestart = guardian?.fresh ?? false
        if !isRetry {
            // One crash, however many tries of its message follow: counted,
            // journaled (the count survives node starts; `journal P` shows
            // it) and told to the supervisor once.
            restarts &+= 1
            outcomesBatch.entries.append(.record(
                LogRecord.lifecycle(pid: pid.serial, event: .restarted, detail: Array(reason.description.utf8)).encoded(), deliver: nil))
            guardian?.restarted(pid, reason)
        }
        let delay = backoffDelay(guardian?.backoff)
        let loop = scheduler.loop!
        // The records to replay were committed before they were delivered;
        // its last snapshot must be in the journal too: if it is still on its
        // way, rebuild after everything submitted so far has committed.
        if snapshotToken?.isCommitted ?? true {
            loop.execute { [self] in rebuild(after: delay) }
            return
        }
        outcomesBatch.entries.append(.releaseOn(scheduler) { [self] in rebuild(after: delay) })
    }

    /// How long this restart waits, by its supervisor's backoff: the n-th
    /// restart in a row that came within `resetAfter` of the previous
    /// rebuild waits `backoff.delay(attempt: n)`.
    private func backoffDelay(_ backoff: Backoff?) -> Duration {
        guard let backoff else { return .zero }
        if scheduler.now &- rebuiltAt >= backoff.resetAfter.nanoseconds { quickCrashes = 0 }
        quickCrashes += 1
        return backoff.delay(attempt: quickCrashes)
    }

    /// Rebuilds now, or after `delay` on this scheduler's clock.
    private func rebuild(after delay: Duration) {
        guard delay > .zero else { return rebuild() }
        scheduler.addTimer(after: delay, owner: self) { [self] _ in rebuild() }
    }

    /// Reloads the last committed snapshot and replays the messages handled
    /// since; or, for a fresh restart, starts over from the initial state
    /// (snapshotted at once, so that a later rebuild does not replay the old history).
    private func rebuild() {
        guard status == .alive, phase == .recovering else { return }
        if freshRestart {
            do {
                state = try behavior.initialState()
            } catch {
                quarantine("its initial state failed on a fresh restart: \(error)")
                return
            }
            sinceSnapshot.removeAll()
            if let entry = snapshotEntry() { outcomesBatch.entries.append(entry) }
            restarted()
            return
        }
        do {
            let start: RebuildStart<B.State> = try durable.loadCheckpoint(pid).map { .snapshot($0.body.state) } ?? .initial
            state = try rebuiltState(from: start, replaying: try ReplayLog(handled: sinceSnapshot, from: durable.journal, pid: pid))
        } catch {
            quarantine("\(error)")
            return
        }
        restarted()
    }

    private func restarted() {
        incarnation &+= 1
        rebuiltAt = scheduler.now
        phase = .running
        durable.noteRestart(pid)
        if (retry != nil || !mailbox.isEmpty), !scheduled { scheduler.makeRunnable(self) }
    }

    /// Runs the handler over journaled messages with effects suppressed,
    /// checking each one's output digest.
    /// - Throws: `DivergenceError`, or the error decoding a message.
    package func replay(_ log: ReplayLog, onto state: inout B.State) throws {
        try DurableDecoding.with(durable) { try replayFunction(self, log, &state) }
    }

    /// `replay`, with this node set for decoding addresses.
    @inlinable
    package func replayDecoding(_ log: ReplayLog, onto state: inout B.State) throws {
        var step = 0
        try log.forEach { item, payload in
            let entry = item.handled
            step += 1
            let message: B.Message
            do {
                message = try codec.decode(from: payload)
            } catch {
                throw DurableError.undecodable("journal record \(entry.seq) for \(pid) does not decode as \(B.Message.self): \(error)")
            }
            var context = DurableContext<B.Message>(cell: self, seq: entry.seq, acceptedAt: item.acceptedAt, slot: nil, batch: nil)
            do {
                try behavior.handle(message, state: &state, context: &context)
            } catch let exit as Exit where exit.reason == .normal || exit.reason == .shutdown {
                // It stopped then too; the digest says whether it is the same stop.
            } catch {
                throw DivergenceError(pid: pid, behavior: B.behaviorName, seq: entry.seq, step: step, expected: entry.digest, found: 0)
            }
            if context.digest.value != entry.digest {
                throw DivergenceError(pid: pid, behavior: B.behaviorName, seq: entry.seq, step: step, expected: entry.digest, found: context.digest.value)
            }
        }
    }

    /// Ends the process for good: its exit is journaled, its snapshot and
    /// name removed, then it exits.
    @usableFromInline package func stopForGood(reason: ExitReason) {
        phase = .stopping
        let batch = outcomesBatch
        batch.entries.append(contentsOf: durable.exitEntries(for: self, reason: reason))
        batch.entries.append(.releaseOn(scheduler) { [self] in scheduler.terminate(self, reason: reason) })
    }

    // MARK: JSON (control socket)

    package override func stateJSON() throws -> [UInt8] {
        if case .quarantined(let reason) = phase { throw DurableError.quarantined(pid, reason) }
        return try DurableJSON.encode(state)
    }

    package override func stateJSON(at seq: UInt64) throws -> [UInt8] { try pastStateJSON(at: seq) }

    package override func ingressJSON(_ json: [UInt8], key: String?, slot: ReplySlot?, ack: @escaping @Sendable (IngressResult) -> Void) {
        let message: B.Message
        do {
            message = try DurableDecoding.with(durable) { try DurableJSON.decode(B.Message.self, from: json) }
        } catch {
            ack(.failed(.badMessage("not a message of \(B.behaviorName): \(error)")))
            return
        }
        durable.ingress(message, to: self, key: key, slot: slot, ack: ack)
    }
}
