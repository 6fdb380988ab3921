import CalfControl

/// What sits in a mailbox: a typed message, a call awaiting a reply, or a signal.
@usableFromInline
package enum Envelope<Message: Sendable>: Sendable {
    case message(Message)
    case call(Message, ReplySlot)
    case signal(Signal)
    /// An orderly stop request, handled in mailbox order (gen_server:stop).
    case stop(ExitReason)
    /// A message handed over once something outside the mailbox committed
    /// it and gave it a sequence number: a durable process's journal (boxed
    /// so that transient mail keeps its small envelope).
    case committed(CommittedMail<Message>)
}

/// What a committer hands over once a message is committed, told its
/// sequence number (a durable process's journal writer: `CommittedMail`).
@usableFromInline
package protocol CommittedDelivery: AnyObject, Sendable {
    /// Learns the seq its record committed at (the committer's thread);
    /// returns the scheduler to hand it to, or nil when there is nobody to hand it to.
    func committed(seq: UInt64) -> Scheduler?
    /// Goes into its recipient's mailbox, on the thread of `taker`, the
    /// scheduler whose queue brought it; forwarded to the new owner if the
    /// recipient moved since the committer read its scheduler.
    func accept(on taker: Scheduler)
    /// Its recipient's scheduler has stopped: a dead letter.
    func refuse()
    /// Its record was never written (refused, or a duplicate of a key
    /// taken before): it will not be delivered (the committer's thread).
    func notDelivered()
}

/// A committed message in a mailbox: the message, its sequence number,
/// when it was accepted, and the caller waiting for a reply, if any (in
/// memory only: a restart of the node loses the caller, not the message).
/// The runtime only carries it; what commits it (the durable layer's
/// journal) gives it meaning.
///
/// Made before it commits, it is also what the committer releases
/// afterwards: it learns its seq, and the commit's mail for each scheduler
/// goes through that scheduler's queue together (`ReleaseChannel`).
/// Thread ownership: `seq` is written by the committer's thread in
/// `committed(seq:)` before the mail is published through the recipient
/// scheduler's queue; `recipient` is cleared on that scheduler's thread in
/// `accept()`/`refuse()`; otherwise they are only read.
public final class CommittedMail<Message: Sendable>: CommittedDelivery, @unchecked Sendable {
    @usableFromInline package let message: Message
    @usableFromInline package private(set) var seq: UInt64
    @usableFromInline package let acceptedAt: UInt64
    @usableFromInline package let slot: ReplySlot?
    /// Sent from outside every durable process: its recipient counts it
    /// until a turn takes it (`MailboxCell.outsideMailTaken`).
    @usableFromInline package let fromOutside: Bool
    private var recipient: MailboxCell<Message>?

    package init(_ message: Message, seq: UInt64, acceptedAt: UInt64, slot: ReplySlot?, fromOutside: Bool = false) {
        self.message = message
        self.seq = seq
        self.acceptedAt = acceptedAt
        self.slot = slot
        self.fromOutside = fromOutside
    }

    /// Mail for `recipient`, to be handed over once its record commits.
    @usableFromInline
    package init(_ message: Message, acceptedAt: UInt64, slot: ReplySlot?, for recipient: MailboxCell<Message>, fromOutside: Bool = false) {
        self.message = message
        seq = 0
        self.acceptedAt = acceptedAt
        self.slot = slot
        self.fromOutside = fromOutside
        self.recipient = recipient
    }

    @usableFromInline package func committed(seq: UInt64) -> Scheduler? {
        self.seq = seq
        return recipient?.scheduler
    }

    @usableFromInline package func accept(on taker: Scheduler) {
        guard let recipient else { return }
        self.recipient = nil
        if recipient.schedulerRef.toOpaque() == Unmanaged.passUnretained(taker).toOpaque() {
            recipient.acceptCommitted(self)
        } else {
            // Moved after the committer read its scheduler: on to the new
            // owner as forwarded mail, which the move orders before what
            // comes straight there (`Scheduler+Migration`).
            recipient.scheduler.pushRemote(RemoteNode.make(cell: recipient, envelope: .committed(self), forwarded: true))
        }
    }

    @usableFromInline package func refuse() {
        guard let recipient else { return }
        self.recipient = nil
        recipient.scheduler.node.deadLetter(Envelope<Message>.committed(self), to: recipient.pid)
    }

    @usableFromInline package func notDelivered() {
        guard let recipient else { return }
        self.recipient = nil
        if fromOutside { recipient.outsideMailTaken() }
    }
}
