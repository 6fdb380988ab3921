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
@usableFromInline
final class JournaledMail<Message: Sendable>: Sendable {
    @usableFromInline let message: Message
    @usableFromInline let seq: UInt64
    @usableFromInline let acceptedAt: UInt64
    @usableFromInline let slot: ReplySlot?

    init(_ message: Message, seq: UInt64, acceptedAt: UInt64, slot: ReplySlot?) {
        self.message = message
        self.seq = seq
        self.acceptedAt = acceptedAt
        self.slot = slot
    }
}
