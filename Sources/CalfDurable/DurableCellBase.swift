import CalfStore
import Synchronization
import CalfControl
import CalfRuntime

/// A durable process's registered name, as the durable table keeps it.
package protocol DurableNamed: AnyObject {
    var durableName: String? { get }
    /// The type of the messages it takes.
    var messageType: ObjectIdentifier { get }
}

/// A durable process's intake: mail from outside goes to its journal
/// (`journalIngress`), and a durable sender journals mail to it in its own
/// commit (`journalOutput`). Of the message type alone (no `Codable` needed
/// to name it), because a sender knows only that: a cast to it is a class
/// check, where a cast to a protocol with a primary associated type
/// demangled the type at every send (measured: a third of the durable
/// flood's time).
///
/// Thread ownership: immutable after init.
@usableFromInline
package final class JournalingTarget<Message: Sendable>: MailIntake<Message>, @unchecked Sendable {
    /// Appends the message's accepted record for `cell` to `bytes`; returns
    /// where its payload starts and the mail to release once committed.
    @usableFromInline package let journalOutput: (MailboxCell<Message>, Message, UInt64, inout [UInt8]) -> Result<JournalOutput, any Error>

    @usableFromInline
    package init(
        take: @escaping (MailboxCell<Message>, __owned Envelope<Message>, Scheduler?) -> Bool,
        journalOutput: @escaping (MailboxCell<Message>, Message, UInt64, inout [UInt8]) -> Result<JournalOutput, any Error>
    ) {
        self.journalOutput = journalOutput
        super.init(take: take)
    }
}

extension MailboxCell {
    /// For a message a durable process sends: when this process is durable
    /// too, appends the message's accepted record to `bytes` and returns
    /// where its payload starts and the mail to release once committed;
    /// nil for a transient one (nothing appended).
    @inlinable
    package func journalOutputIfDurable(_ message: Message, acceptedAt: UInt64, into bytes: inout [UInt8]) -> Result<JournalOutput, any Error>? {
        guard let target = intake as? JournalingTarget<Message> else { return nil }
        return target.journalOutput(self, message, acceptedAt, &bytes)
    }
}

/// Where a durable process stands.
@usableFromInline
package enum DurablePhase: Equatable {
    /// Handling its mail.
    case running
    /// Being rebuilt from its snapshot and journal (mail waits).
    case recovering
    /// Stopping for good once its exit record commits.
    case stopping
    /// Stopped by a problem replay or the journal revealed; mail waits, the
    /// operator sees why.
    case quarantined(String)
    /// Left RAM (passivation): its snapshot holds it. This cell — the one it
    /// had, kept by someone's address, or a stand-in made for an address of
    /// it — takes no turn and forwards the mail it gets to the process
    /// brought back from that snapshot (`forwardToLive`).
    case passivated
}

/// The part of a durable process that depends only on its message type:
/// journaling mail sent to it, durable timers, and the bookkeeping a
/// checkpoint needs.
///
/// Thread ownership: as `ProcessCell`, every `var` belongs to the
/// scheduler's thread, except `intake` (`MailboxCell`) and
/// `acceptCommittedFunction`, set while the cell is made (before anyone can
/// reach it) and only read afterwards, from any thread; the writer thread
/// reaches a cell only through its scheduler's queue (`ReleaseChannel`,
/// `pushToMailbox`) and jobs on the scheduler's loop.
@usableFromInline
package class DurableCellBase<Message: Codable & Sendable>: MailboxCell<Message>, DurableNamed, RoundCheckpointing, @unchecked Sendable {
    // Strong: an address kept after its node is gone still reaches a core that refuses politely.
    @usableFromInline package let durable: DurableCore
    package let name: String?
    @usableFromInline @exclusivity(unchecked) package final var phase = DurablePhase.running
    /// Handled or received anything since its last snapshot.
    @usableFromInline @exclusivity(unchecked) package final var dirty = true
    /// Bumped at every start: each node start and each restart in place.
    @exclusivity(unchecked) package final var incarnation: UInt64 = 0
    /// Restarts in place after a crash or a kill (node starts do not count,
    /// nor the further tries of a message that failed before), over its
    /// life (kept in its snapshots and `restarted` records).
    @exclusivity(unchecked) package final var restarts: UInt64 = 0
    /// Restarts in a row that came sooner than its backoff's `resetAfter`
    /// after the previous rebuild, and when that was (monotonic).
    @exclusivity(unchecked) package final var quickCrashes = 0
    @exclusivity(unchecked) package final var rebuiltAt: UInt64 = 0
    @exclusivity(unchecked) package final var timers: [UInt64: (timer: DurableTimer, ref: TimerRef?)] = [:]
    /// The message to handle before the mailbox (retried after a crash).
    @usableFromInline @exclusivity(unchecked) package final var retry: CommittedMail<Message>?
    /// How its messages are written to the journal and read back.
    @usableFromInline package let codec: JournalCodec<Message>
    /// Messages from outside on their way to the journal or in its mailbox,
    /// not yet taken by a turn (any thread: counted up by `DurableCore.ingress`,
    /// down by the turn that takes one or the writer that did not write it).
    @usableFromInline package final let outsideBacklog = Atomic<Int>(0)
    /// How many of those it takes before it refuses more (`overloaded`):
    /// its behavior's `mailboxLimit`, else the node's `DurableOptions.mailboxLimit`.
    @usableFromInline package final let outsideLimit: Int
    /// Mail from outside refused because it was over that limit (this run of the node).
    @usableFromInline package final let outsideRefused = Atomic<UInt64>(0)

    package init(pid: Pid, scheduler: Scheduler, durable: DurableCore, name: String?, mailboxLimit: Int? = nil) {
        self.durable = durable
        self.name = name
        codec = durable.codec(Message.self)
        outsideLimit = max(1, mailboxLimit ?? durable.options.mailboxLimit)
        super.init(pid: pid, scheduler: scheduler)
        // Its intake, a JournalingTarget, comes with the specialized turn (DurableCell.installSpecialized).
    }

    /// Timer work (arm, cancel, re-arm) journaled for it and not yet run
    /// on its scheduler: that work runs in the release channel of the
    /// scheduler it was journaled on, so the process stays there until it has.
    @usableFromInline @exclusivity(unchecked) package final var timerReleasesAwaited = 0

    /// A durable process moves while it is running normally (not being
    /// rebuilt, stopping or quarantined: those end in work on this
    /// scheduler) with no timer work awaited here.
    package override final var canMove: Bool {
        phase == .running && timerReleasesAwaited == 0 && !passivating
    }

    /// Its place in its scheduler's table of durable processes (`DurableScheduling.add`).
    @exclusivity(unchecked) package final var roundIndex = -1

    /// Its passivation snapshot is on its way to the journal (it stays here until that commits).
    @exclusivity(unchecked) package final var passivating = false
    /// Its `passivateAfter` in nanoseconds (0: it stays in RAM; a stand-in's), set once as its cell is made.
    package final var passivateAfterNanoseconds: UInt64 = 0

    /// The `CommitBatch.serial` of the batch it last put outcomes in.
    @usableFromInline @exclusivity(unchecked) package final var lastBatchSerial: UInt64 = 0

    /// The batch of its scheduler that its outcomes go into, noted as
    /// holding some (every outcome it journals goes through here, or notes
    /// the batch itself, as a checkpoint round's snapshot does).
    @inlinable package final var outcomesBatch: CommitBatch {
        let batch = scheduler.durableBatch
        lastBatchSerial = batch.serial
        return batch
    }

    /// Whether its scheduler's batch, not yet handed to the writer, holds
    /// outcomes of it: a move must submit that batch first.
    package final var hasOutcomesWaiting: Bool {
        guard let batch = scheduler.pendingBatch else { return false }
        return batch.serial == lastBatchSerial && !batch.isEmpty
    }

    /// The balancer moves a durable process off a scheduler that stays
    /// busy (`Scheduler.staysBusy`, read once per batch of moves) to an idle one, whether the idle one
    /// asked (`.steal`) or was found (`.share`), and never from the middle
    /// of a run while this scheduler's batch holds outcomes of it: that move
    /// would submit the batch early, and under a flood of mail from outside
    /// the split group commits took the commit p99 from 4–6 ms to 40–184 ms.
    /// Not off a scheduler that only idles between bursts (waiting for
    /// commits), nor to even out two busy run queues, nor when a parked
    /// one is evacuated. `calf bench durable` (10,000 processes, 2
    /// schedulers, interleaved runs with and without each kind of move):
    /// those moves came to 2,000–20,000 a run, and took the steady
    /// senders' accept p99 from 3.4 ms to 6.4 ms (steals and evacuations)
    /// or from 2.7–2.9 ms to 3.6 ms (evening out); as it is, 200–6,000
    /// moves a run and no change beyond noise.
    package override final func movesWithTheBalancer(_ kind: BalancerMove, fromBusyScheduler busy: Bool) -> Bool {
        switch kind {
        case .share, .steal: return busy && !hasOutcomesWaiting
        case .evenOut, .evacuation: return false
        }
    }

    /// Its move starts unless a checkpoint round is under way
    /// (`DurableMoveGate`); what it did here goes to the writer before it
    /// can run elsewhere (so its outcomes commit in the order it had them),
    /// and it leaves this scheduler's checkpoint table.
    package override final func departs() -> Bool {
        guard canMove, durable.moveGate.beginMove() else { return false }
        if hasOutcomesWaiting { scheduler.flushDurable() }
        scheduler.durableScheduling.remove(self)
        return true
    }

    /// In the new scheduler's checkpoint table, with its mail (some of it
    /// forwarded, not seen by `acceptCommitted`) to snapshot at the next round.
    package override final func arrived() {
        if status == .alive {
            scheduler.durableScheduling.add(self)
            dirty = true
        }
        durable.moveGate.endMove()
    }

    package final var durableName: String? { name }
    package final var messageType: ObjectIdentifier { ObjectIdentifier(Message.self) }

    // MARK: Mail

    // Mail sent from outside a durable process is journaled first: its
    // `intake`, a `JournalingTarget` installed with the behavior's
    // specialized turn (`DurableCell.installSpecialized`, before anyone can
    // reach the cell), takes it to `journalIngress`.

    /// Takes in committed mail on the scheduler's thread; replaced by the
    /// behavior's specialized copy (`DurableRuntime`).
    @usableFromInline @exclusivity(unchecked) package final var acceptCommittedFunction: (DurableCellBase<Message>, CommittedMail<Message>) -> Void = { cell, mail in
        cell.dirty = true
        cell.acceptRemote(.committed(mail))
    }

    package override final func acceptCommitted(_ mail: CommittedMail<Message>) {
        if _slowPath(phase == .passivated) {
            forwardToLive(mail)
            return
        }
        acceptCommittedFunction(self, mail)
    }

    @usableFromInline package override final func outsideMailTaken() {
        outsideBacklog.subtract(1, ordering: .relaxed)
    }

    /// Journals mail from outside: messages and calls through the writer,
    /// signals and stops straight to the mailbox.
    /// - Returns: false if it was refused (overloaded, the node stopping, …).
    @inlinable
    package final func journalIngress(_ envelope: __owned Envelope<Message>) -> Bool {
        switch envelope {
        case .message(let message):
            // A send that waits for no answer: one refused (overloaded, say) is a dead letter, as one to a process gone.
            if durable.ingress(message, to: self, key: nil, slot: nil, ack: { _ in }) { return true }
            scheduler.node.countDeadLetter()
            return false
        case .call(let message, let slot):
            return durable.ingress(message, to: self, key: nil, slot: slot) { _ in }
        case .signal, .stop, .committed:
            pushToMailbox(envelope)
            return true
        }
    }


    @usableFromInline
    package final func journalOutput(_ message: Message, acceptedAt: UInt64, into bytes: inout [UInt8]) -> Result<JournalOutput, any Error> {
        let payloadStart: Int
        do {
            payloadStart = try AcceptedRecord.append(to: pid.serial, key: nil, acceptedAt: acceptedAt, into: &bytes) { bytes in
                try codec.encode(message, appendingTo: &bytes)
            }
        } catch {
            return .failure(DurableError.unencodable("cannot encode a message for \(pid): \(error)"))
        }
        return .success(JournalOutput(payloadStart: payloadStart, mail: CommittedMail(message, acceptedAt: acceptedAt, slot: nil, for: self)))
    }

    /// The seqs of journaled mail waiting (the retried message first).
    package final var pendingSeqs: [UInt64] {
        var seqs: [UInt64] = []
        if let retry { seqs.append(retry.seq) }
        for offset in 0..<mailbox.count {
            if case .committed(let mail) = mailbox.peek(at: offset) { seqs.append(mail.seq) }
        }
        return seqs
    }

    /// Puts recovered mail in the mailbox (loop thread, before the process runs).
    package final func restoreMail(_ mail: CommittedMail<Message>) {
        if mail.fromOutside { outsideBacklog.add(1, ordering: .relaxed) }
        mailbox.append(.committed(mail))
    }

    /// The state as JSON; a typed cell (`DurableCell`) knows it (a stand-in for a dead process does not).
    package func stateJSON() throws -> [UInt8] { throw DurableError.noSuchProcess(pid.description) }
    /// Its state at log position `seq` (see `stateJSON()`).
    package func stateJSON(at seq: UInt64) throws -> [UInt8] { throw DurableError.noSuchProcess(pid.description) }
    /// Journals a message given as JSON (see `stateJSON()`).
    package func ingressJSON(_ json: [UInt8], key: String?, slot: ReplySlot?, ack: @escaping @Sendable (IngressResult) -> Void) {
        ack(.failed(.noProcess(pid.description)))
    }

    package final func journaledMessageJSON(_ payload: [UInt8]) -> JSONValue? {
        DurableDecoding.with(durable) { DurableJSON.journaledMessage(codec, payload) }
    }

    package final func reingest(_ payload: [UInt8], key: String?, ack: @escaping @Sendable (IngressResult) -> Void) {
        let message: Message
        do {
            message = try DurableDecoding.with(durable) { try codec.decode(from: payload) }
        } catch {
            ack(.failed(.badMessage("the message does not decode as \(Message.self): \(error)")))
            return
        }
        durable.ingress(message, to: self, key: key, slot: nil, ack: ack)
    }

    // MARK: Timers

    /// Arms a committed timer (loop thread).
    package final func addCommittedTimer(_ timer: DurableTimer) {
        guard status == .alive else { return }
        timers[timer.id]?.ref.map { _ = scheduler.cancelTimer($0) }
        let now = scheduler.node.wallNow.nanosecondsSinceEpoch
        let delay = Duration.clampedNanoseconds(timer.due > now ? timer.due - now : 0)
        let id = timer.id
        let ref = scheduler.addTimer(after: delay, owner: self) { [self] _ in fireTimer(id) }
        timers[id] = (timer, ref)
        dirty = true
    }

    /// Forgets a cancelled timer (loop thread).
    package final func removeCommittedTimer(_ id: UInt64) {
        guard let entry = timers.removeValue(forKey: id) else { return }
        entry.ref.map { _ = scheduler.cancelTimer($0) }
        dirty = true
    }

    /// A timer came due: its message and the firing commit together; a
    /// periodic timer is re-armed for its next period after now.
    private func fireTimer(_ id: UInt64) {
        guard status == .alive, var entry = timers[id] else { return }
        entry.ref = nil
        timers[id] = entry
        let message: Message
        do {
            message = try DurableDecoding.with(durable) { try codec.decode(from: entry.timer.payload) }
        } catch {
            quarantine("timer \(id) holds a message that does not decode: \(error)")
            return
        }
        let now = scheduler.node.wallNow.nanosecondsSinceEpoch
        let nextDue = entry.timer.nextDue(firedAt: now)
        var detail = ByteWriter()
        detail.varint(id)
        detail.varint(nextDue)
        var record: [UInt8] = []
        _ = AcceptedRecord.append(to: pid.serial, key: nil, acceptedAt: now, into: &record) { $0.append(contentsOf: entry.timer.payload) }
        let batch = outcomesBatch
        batch.entries.append(.record(record, deliver: CommittedMail(message, acceptedAt: now, slot: nil, for: self)))
        batch.entries.append(.record(LogRecord.lifecycle(pid: pid.serial, event: .timerFired, detail: detail.bytes).encoded(), deliver: nil))
        var rearmed = entry.timer
        rearmed.due = nextDue
        let next = rearmed
        timerReleasesAwaited += 1
        batch.entries.append(.releaseOn(scheduler) { [self] in
            timerReleasesAwaited -= 1
            if nextDue > 0 { addCommittedTimer(next) } else { timers[id] = nil; dirty = true }
        })
    }

    // MARK: Lifecycle

    /// See `RoundCheckpointing`; a typed cell (`DurableCell`) snapshots, a stand-in has nothing to.
    package func checkpointForRound(into batch: CommitBatch) -> (lowestPending: UInt64, keepFrom: UInt64) { (.max, .max) }

    /// See `RoundCheckpointing`; a typed cell (`DurableCell`) may passivate, a stand-in has nothing to.
    package func considerPassivation(now: UInt64) {}

    /// Stops the process's work and keeps it visible with `reason`.
    package final func quarantine(_ reason: String) {
        phase = .quarantined(reason)
        durable.noteQuarantine(pid, reason: reason)
    }

    package override final func restartsInsteadOfExiting(_ reason: ExitReason) -> Bool {
        switch reason {
        case .normal, .shutdown: return false
        case .killed, .noProcess, .error:
            guard phase == .running else { return true }
            restartByReplay(retrying: nil, reason: reason)
            return true
        }
    }

    package override final func stopsInMailboxOrder(on reason: ExitReason) -> Bool {
        guard reason == .shutdown else { return false }
        // After the mail accepted before it: the turn journals the exit, then ends the process.
        pushToMailbox(.stop(reason))
        return true
    }

    package override final func liveSuccessor() -> ProcessCell? { broughtBack() }

    package override final func linkHolderWhileAway() -> ProcessCell? {
        guard phase == .passivated, durable.scheduler(for: pid) === scheduler else { return nil }
        return durable.linkHolder(of: pid, standIn: self)
    }

    package override final func didExit(reason: ExitReason) {
        for (_, entry) in timers { entry.ref.map { _ = scheduler.cancelTimer($0) } }
        timers.removeAll()
        scheduler.durableScheduling.remove(self)
        durable.forget(self)
    }

    /// Rebuilds the state from the snapshot and journal (or from the initial
    /// state, if its guardian asks for `fresh`) once everything this
    /// scheduler submitted has committed (and its guardian's backoff, if
    /// any, has passed), then retries `failed` first. Its guardian is told
    /// why, unless `retry` says this is another failure of a message that
    /// failed before (a poison message's tries are one crash to a supervisor).
    package func restartByReplay(retrying failed: CommittedMail<Message>?, reason: ExitReason, retry: Bool = false) {}

    package override final var mailboxCount: Int { mailbox.count + (retry == nil ? 0 : 1) }

    package override final func retryingJSON() -> String? { retry.map { DurableJSON.text($0.message) } }

    package override final var statusName: String {
        switch phase {
        case .running: scheduled ? "runnable" : "waiting"
        case .recovering: "recovering"
        case .stopping: "stopping"
        case .quarantined: "quarantined"
        case .passivated: "passivated"
        }
    }

    package override final var restartCount: UInt64 { restarts }

    package override final var isDurable: Bool { true }

    package override final var quarantineReason: String? {
        if case .quarantined(let reason) = phase { return reason }
        return nil
    }

    package override final var mailboxBound: MailboxBoundState? {
        MailboxBoundState(limit: outsideLimit, backlog: outsideBacklog.load(ordering: .relaxed), refused: outsideRefused.load(ordering: .relaxed))
    }
}
