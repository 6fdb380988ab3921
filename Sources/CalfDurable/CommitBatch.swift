import CalfStore
import Synchronization
import CalfControl
import CalfRuntime

/// What a sender from outside learns about a message it handed to a durable process.
public enum IngressResult: Sendable, Equatable {
    /// Committed to the journal at this seq: it will be handled.
    case accepted(seq: UInt64)
    /// Its idempotency key was seen before (within the retention window):
    /// the message was not taken again; `seq` is where the first one was.
    case duplicate(seq: UInt64)
    /// Not accepted: nothing was written.
    case failed(IngressRefusal)
}

extension IngressRefusal {
    /// The refusal a lookup's `DurableError` stands for.
    package init(_ error: DurableError) {
        switch error {
        case .notDurableNode: self = .notDurableNode
        case .notDurable(let pid): self = .notDurable(pid)
        case .noSuchProcess(let target): self = .noProcess(target)
        case .quarantined(let pid, let reason): self = .quarantined(pid, reason)
        default: self = .storeFailed(error.description)
        }
    }
}

/// A message from outside on its way into the journal.
@usableFromInline
package struct Ingress: Sendable {
    package var key: String?
    package var acceptedAt: UInt64
    /// Where its record is in the bytes it was queued with.
    package var record: Range<Int>
    /// Goes to its recipient's mailbox once committed.
    package var deliver: any CommittedDelivery
    /// Tells the sender (after the commit).
    package var ack: @Sendable (IngressResult) -> Void

    package init(key: String?, acceptedAt: UInt64, record: Range<Int>, deliver: any CommittedDelivery, ack: @escaping @Sendable (IngressResult) -> Void) {
        self.key = key
        self.acceptedAt = acceptedAt
        self.record = record
        self.deliver = deliver
        self.ack = ack
    }
}

/// One thing a commit batch carries, in order.
@usableFromInline
package enum CommitEntry {
    /// A log record; `deliver` (if any) runs after the commit with its seq.
    case record([UInt8], deliver: (any CommittedDelivery)?)
    /// A log record written into the batch's `bytes` at `range` (no array
    /// of its own: the hot records, messages and progress).
    case packed(Range<Int>, deliver: (any CommittedDelivery)?)
    /// A message from outside (idempotency checked by the writer).
    case ingress(Ingress)
    /// A process's snapshot; the writer stamps it with the seq of the last
    /// record written before it (the log position the state reflects).
    case checkpoint(pid: UInt64, body: [UInt8])
    /// Another write in the same transaction (names, dead letters).
    case write(@Sendable (Transaction) throws -> Void)
    /// Runs after the commit on the writer's thread, after the commit's
    /// mail before it was handed over (a transient send, a reply, a count):
    /// work that touches no scheduler's state.
    case release(@Sendable () -> Void)
    /// Runs after the commit on `scheduler`'s thread, in that scheduler's
    /// release channel, in order with the commit's mail for it (a timer
    /// armed, a process started, terminated, rebuilt).
    case releaseOn(Scheduler, @Sendable () -> Void)
    /// A scheduler's part of a checkpoint round.
    case round(CheckpointRoundReport)
    /// Learns the commit's outcome: nil once committed (with the releases),
    /// or why nothing was written.
    case outcome(@Sendable (String?) -> Void)
}

/// A scheduler's part of a checkpoint round: every process it hosts whose
/// state or mailbox changed since the last round has a snapshot in the
/// same batch, taken after it had taken in all mail committed through `cut`.
@usableFromInline
package struct CheckpointRoundReport: Sendable {
    package var round: UInt64
    /// Every accepted record at or below this seq for its processes was in
    /// their mailboxes (or handled) when the snapshots were taken.
    package var cut: UInt64
    /// The lowest seq still pending in one of its mailboxes (UInt64.max: none).
    package var lowestPending: UInt64
}

/// Tells whether a batch has committed (any thread): a process that
/// snapshotted into a batch keeps its token to know when that snapshot is
/// in the journal.
package final class CommitToken: Sendable {
    private let committed = Atomic<Bool>(false)

    package var isCommitted: Bool { committed.load(ordering: .acquiring) }

    package func markCommitted() { committed.store(true, ordering: .releasing) }
}

/// The outcomes a scheduler collected since its last flush, committed by
/// the writer in one group commit with other batches.
///
/// Thread ownership: filled by one scheduler thread, then handed to the
/// writer (`CommitWriter.submit`), which alone reads it afterwards.
@usableFromInline
package final class CommitBatch: @unchecked Sendable {
    @usableFromInline @exclusivity(unchecked) package var entries: [CommitEntry] = []
    /// The bytes of the `.packed` records, one after another.
    @usableFromInline @exclusivity(unchecked) package var bytes: [UInt8] = []
    /// Monotonic time of the first entry (commit latency is measured from it).
    package let started: UInt64
    /// Unique among the node's batches: a durable process notes the
    /// batch it last put outcomes in (`DurableCellBase.outcomesBatch`).
    @usableFromInline package let serial: UInt64
    private static let serials = Atomic<UInt64>(1)
    /// Marked by the writer once the batch committed (made on first use).
    package private(set) var commitToken: CommitToken?

    /// The token the writer marks when this batch has committed.
    package func tokenForCommit() -> CommitToken {
        if let commitToken { return commitToken }
        let token = CommitToken()
        commitToken = token
        return token
    }

    package init() {
        started = monotonicNanoseconds()
        serial = Self.serials.wrappingAdd(1, ordering: .relaxed).oldValue
        entries.reserveCapacity(64)
    }

    package var isEmpty: Bool { entries.isEmpty }

    /// Appends a record written by `write` into `bytes`.
    @usableFromInline package func appendRecord(deliver: (any CommittedDelivery)? = nil, _ write: (inout [UInt8]) -> Void) {
        let start = bytes.count
        write(&bytes)
        entries.append(.packed(start..<bytes.count, deliver: deliver))
    }

    /// Drops everything appended after `mark` (a handler that threw).
    @usableFromInline package func cut(to mark: (entries: Int, bytes: Int)) {
        entries.removeSubrange(mark.entries...)
        bytes.removeSubrange(mark.bytes...)
    }

    /// Where the batch stands now, for `cut(to:)`.
    @usableFromInline package var mark: (entries: Int, bytes: Int) { (entries.count, bytes.count) }
}
