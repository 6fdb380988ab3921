/// What sits in a mailbox: a typed message, a call awaiting a reply, or a signal.
@usableFromInline
enum Envelope<Message: Sendable>: Sendable {
    case message(Message)
    case call(Message, ReplySlot)
    case signal(Signal)
    /// An orderly stop request, handled in mailbox order (gen_server:stop).
    case stop(ExitReason)
    /// A message committed to the journal, for a durable process (boxed so
    /// that transient mail keeps its small envelope).
    case journaled(JournaledMail<Message>)
}

/// A journaled message in a durable process's mailbox: the message, where
/// the journal has it, when it was accepted, and the caller waiting for a
/// reply, if any (in memory only: a restart of the node loses the caller, not
/// the message).
///
/// Made before its record commits, it is also what the writer releases
/// after the commit: it learns its seq, and the commit's mail for each
/// scheduler goes through that scheduler's queue together (`ReleaseChannel`).
/// Thread ownership: `seq` is written by the writer thread in
/// `committed(seq:)` before the mail is published through the recipient
/// scheduler's queue; `recipient` is cleared on that scheduler's thread in
/// `accept()`/`refuse()`; otherwise they are only read.
@usableFromInline
final class JournaledMail<Message: Sendable>: CommittedDelivery, @unchecked Sendable {
    @usableFromInline let message: Message
    @usableFromInline private(set) var seq: UInt64
    @usableFromInline let acceptedAt: UInt64
    @usableFromInline let slot: ReplySlot?
    private var recipient: MailboxCell<Message>?

    init(_ message: Message, seq: UInt64, acceptedAt: UInt64, slot: ReplySlot?) {
        self.message = message
        self.seq = seq
        self.acceptedAt = acceptedAt
        self.slot = slot
    }

    /// Mail for `recipient`, to be handed over once its record commits.
    @usableFromInline
    init(_ message: Message, acceptedAt: UInt64, slot: ReplySlot?, for recipient: MailboxCell<Message>) {
        self.message = message
        seq = 0
        self.acceptedAt = acceptedAt
        self.slot = slot
        self.recipient = recipient
    }

    @usableFromInline func committed(seq: UInt64) -> Scheduler? {
        self.seq = seq
        return recipient?.scheduler
    }

    @usableFromInline func accept() {
        guard let recipient else { return }
        self.recipient = nil
        recipient.acceptCommitted(self)
    }

    @usableFromInline func refuse() {
        guard let recipient else { return }
        self.recipient = nil
        recipient.scheduler.node.deadLetter(Envelope<Message>.journaled(self), to: recipient.pid)
    }
}
