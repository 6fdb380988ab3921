/// What sits in a mailbox: a typed message, a call awaiting a reply, or a signal.
@usableFromInline
enum Envelope<Message: Sendable>: Sendable {
    case message(Message)
    case call(Message, ReplySlot)
    case signal(Signal)
    /// An orderly stop request, handled in mailbox order (gen_server:stop).
    case stop(ExitReason)
}
