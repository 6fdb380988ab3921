import CalfStore
import CalfControl
import CalfRuntime

/// A message's accepted record just appended to a buffer (its payload from
/// `payloadStart` on), with the mail to release once committed.
@usableFromInline
package struct JournalOutput {
    @usableFromInline package let payloadStart: Int
    @usableFromInline package let mail: any CommittedDelivery
}

/// What a durable handler can do besides changing its state. Every effect
/// is held until the handler's outcome is committed to the journal, then
/// released; during replay effects are suppressed and only checked.
///
/// Time and randomness come from the journal: `now` is the accepted-at time
/// of the message being handled and `random` is seeded from (pid, seq).
public struct DurableContext<Message: Codable & Sendable> {
    @usableFromInline package unowned(unsafe) let cell: DurableCellBase<Message>
    /// The seq of the message being handled.
    public let seq: UInt64
    /// The message's accepted-at time: the handler's clock.
    public let now: WallTime
    /// True while the handler runs again over journaled messages after a
    /// restart (its effects are suppressed).
    public let isReplaying: Bool
    /// Random numbers that replay draws again: `Int.random(in: 1...6, using: &context.random)`.
    public var random: JournalRandom
    /// Where outputs go: the scheduler's commit batch (nil during replay).
    /// A handler that throws has its outputs cut off again by the cell.
    @usableFromInline package let batch: CommitBatch?
    @usableFromInline package var digest = OutputDigest()
    @usableFromInline package var replySlot: ReplySlot?
    @usableFromInline package var stopReason: ExitReason?
    @usableFromInline package var failure: (any Error)?
    private var spawns: UInt8 = 0
    private var timerCount: UInt8 = 0
    /// Effects asked for in this handling (`perform`).
    package var effectCount: UInt8 = 0
    /// Callbacks minted in this handling (`callback(expiresIn:)`).
    package var callbackCount: UInt8 = 0

    @inlinable package init(cell: DurableCellBase<Message>, seq: UInt64, acceptedAt: UInt64, slot: ReplySlot?, batch: CommitBatch?) {
        self.cell = cell
        self.seq = seq
        now = WallTime(nanosecondsSinceEpoch: acceptedAt)
        isReplaying = batch == nil
        self.batch = batch
        random = JournalRandom(pid: cell.pid, seq: seq)
        replySlot = slot
    }

    /// This process's pid (the same after every restart).
    public var pid: Pid { cell.pid }

    /// This process's address.
    public var address: Address<Message> { Address(cell: cell) }

    // MARK: Messages

    /// Sends `message` to `address` once this handler's outcome is committed.
    /// To a durable process the message is accepted in the same commit.
    @inlinable public mutating func send<M>(_ message: M, to address: Address<M>) {
        let target = address.cell
        digest.add(target.pid.serial)
        let acceptedAt = now.nanosecondsSinceEpoch
        if let batch {
            if let trace = cell.trace { cell.traceSent("message", message, to: target.pid, on: trace) }
            let start = batch.bytes.count
            guard let journaled = target.journalOutputIfDurable(message, acceptedAt: acceptedAt, into: &batch.bytes) else {
                digest.add(byte: 2)
                batch.entries.append(.release { target.deliverRemote(.message(message)) })
                return
            }
            switch journaled {
            case .success(let output):
                digest.add(byte: 1)
                digest.add(bytes: batch.bytes[output.payloadStart...])
                batch.entries.append(.packed(start..<batch.bytes.count, deliver: output.mail))
            case .failure(let error):
                failure = failure ?? error
            }
        } else {
            // Replay: only the digest, from the same bytes.
            var scratch: [UInt8] = []
            guard let journaled = target.journalOutputIfDurable(message, acceptedAt: acceptedAt, into: &scratch) else {
                digest.add(byte: 2)
                return
            }
            switch journaled {
            case .success(let output):
                digest.add(byte: 1)
                digest.add(bytes: scratch[output.payloadStart...])
            case .failure(let error):
                failure = failure ?? error
            }
        }
    }

    /// Sends `message` (made only now, live) to this process itself once this
    /// outcome is committed, journaled in the same commit. The output digest
    /// takes `marker`, not the message's bytes: for a value the handler
    /// computed from what a replay cannot see again (a flow's `local` step),
    /// which the replay reads back as that journaled message instead. In
    /// replay nothing is made or sent.
    package mutating func sendSelf(marker: UInt64, _ message: () -> Message) {
        digest.add(byte: 11)
        digest.add(marker)
        guard let batch else { return }
        let start = batch.bytes.count
        // invariant: a durable process's own cell journals its mail.
        guard let journaled = cell.journalOutputIfDurable(message(), acceptedAt: now.nanosecondsSinceEpoch, into: &batch.bytes) else { return }
        switch journaled {
        case .success(let output): batch.entries.append(.packed(start..<batch.bytes.count, deliver: output.mail))
        case .failure(let error): failure = failure ?? error
        }
    }

    /// Sends `message` to the process registered as `name`.
    /// - Returns: false when no process of that message type has the name
    ///   (counted as a dead letter once committed).
    @discardableResult @inlinable
    public mutating func send<M: Sendable>(_ message: M, to name: String) -> Bool {
        // Durable names first: the durable table has them even while a node
        // start replays, so a replay finds the process the first run found.
        let durableTarget = cell.durable.cell(named: name, taking: M.self).map { Address(cell: $0) }
        guard let target: Address<M> = durableTarget ?? cell.scheduler.node.lookup(name) else {
            digest.add(byte: 3)
            digest.add(bytes: name.utf8)
            if let batch {
                let node = cell.scheduler.node
                batch.entries.append(.release { node.countDeadLetter() })
            }
            return false
        }
        send(message, to: target)
        return true
    }

    /// Answers the call being handled, once the outcome is committed.
    public mutating func reply(_ value: some Sendable) {
        digest.add(byte: 4)
        guard let batch, let slot = replySlot else { return }
        replySlot = nil
        if let trace = cell.trace { cell.traceSent("reply", value, to: nil, on: trace) }
        batch.entries.append(.release { slot.complete(.success(value)) })
    }

    // MARK: Timers

    /// Sends `message` to this process after `delay`, durably: the timer
    /// fires after a restart of the node too (at once if it came due meanwhile).
    @discardableResult
    public mutating func sendAfter(_ message: Message, after delay: Duration) -> DurableTimerRef {
        setTimer(message, due: now + delay, period: 0)
    }

    /// Sends `message` to this process every `period`, durably. Firings
    /// missed while the node was down are collapsed into one.
    @discardableResult
    public mutating func sendInterval(_ message: Message, every period: Duration) -> DurableTimerRef {
        let nanos = max(period.nanoseconds, 1_000_000)
        return setTimer(message, due: now + .clampedNanoseconds(nanos), period: nanos)
    }

    private mutating func setTimer(_ message: Message, due: WallTime, period: UInt64) -> DurableTimerRef {
        timerCount &+= 1
        let ref = DurableTimerRef(id: seq << 8 | UInt64(timerCount))
        let payload: [UInt8]
        do {
            payload = try cell.codec.encode(message)
        } catch {
            failure = failure ?? error
            return ref
        }
        let timer = DurableTimer(id: ref.id, due: due.nanosecondsSinceEpoch, period: period, payload: payload)
        digest.add(byte: 5)
        digest.add(ref.id)
        digest.add(timer.due)
        digest.add(bytes: payload)
        if let batch {
            let cell = self.cell
            batch.entries.append(.record(LogRecord.lifecycle(pid: cell.pid.serial, event: .timerSet, detail: timer.encoded()).encoded(), deliver: nil))
            cell.timerReleasesAwaited += 1
            batch.entries.append(.releaseOn(cell.scheduler) {
                cell.timerReleasesAwaited -= 1
                cell.addCommittedTimer(timer)
            })
        }
        return ref
    }

    /// Cancels a durable timer of this process (once the outcome is committed).
    public mutating func cancelTimer(_ timer: DurableTimerRef) {
        digest.add(byte: 6)
        digest.add(timer.id)
        guard let batch else { return }
        let cell = self.cell
        var detail = ByteWriter()
        detail.varint(timer.id)
        batch.entries.append(.record(LogRecord.lifecycle(pid: cell.pid.serial, event: .timerCancelled, detail: detail.bytes).encoded(), deliver: nil))
        cell.timerReleasesAwaited += 1
        batch.entries.append(.releaseOn(cell.scheduler) {
            cell.timerReleasesAwaited -= 1
            cell.removeCommittedTimer(timer.id)
        })
    }

    // MARK: Processes

    /// Spawns a durable child, started once this outcome is committed. Its
    /// pid derives from this message's seq, so replay finds the same child.
    /// - Throws: `DurableError.tooManySpawns` past 255 spawns in one handling,
    ///   or the error of the child's `initialState()`.
    public mutating func spawn<C: DurableBehavior>(_ behavior: C, name: String? = nil) throws -> Address<C.Message> {
        guard spawns < 255 else { throw DurableError.tooManySpawns(cell.pid) }
        spawns &+= 1
        let childPid = Pid(durableSeq: seq, index: spawns)
        digest.add(byte: 7)
        digest.add(childPid.serial)
        guard let durable = cell.scheduler.node.durable else { throw DurableError.notDurableNode }
        guard let batch else {
            return durable.existingOrDeadAddress(childPid, behavior: behavior)
        }
        let child = try durable.makeCell(behavior, pid: childPid, name: name)
        batch.entries.append(contentsOf: durable.spawnEntries(for: child, parent: cell.pid))
        return Address(cell: child)
    }

    /// Stops this process for good once the handler returns: its journal
    /// records that it exited, and a node restart does not bring it back.
    public mutating func stop(_ reason: ExitReason = .normal) {
        digest.add(byte: 8)
        stopReason = reason
    }
}

/// A durable timer's handle.
public struct DurableTimerRef: Hashable, Sendable, Codable {
    /// The timer's id within its process.
    public let id: UInt64

    /// The timer numbered `id` (as a journal or a log kept it).
    package init(id: UInt64) { self.id = id }
}
