/// Takes the mail one commit released for one scheduler's processes, as a
/// single delivery through that scheduler's queue, and puts each in its
/// recipient's mailbox in seq order: one queue node and one hand-over per
/// commit and scheduler, not per message.
///
/// Not a process: it has no place in the scheduler's table and nothing
/// sends to it but the writer. Thread ownership: made and pushed by the
/// writer thread; its acceptor runs on the scheduler's thread.
final class CommittedMailSink: MailboxCell<CommittedMail>, @unchecked Sendable {
    init(scheduler: Scheduler) {
        super.init(pid: Pid(serial: 0), scheduler: scheduler)
        remoteAcceptor = { _, node, deliver in
            guard case .message(let batch) = RemoteNode.takeEnvelope(node, as: CommittedMail.self) else { return }
            if deliver {
                for mail in batch.mails { mail.accept() }
            } else {
                for mail in batch.mails { mail.refuse() }
            }
        }
    }

    /// Hands `mails` to the scheduler (writer thread).
    func hand(_ mails: [any CommittedDelivery]) {
        pushToMailbox(.message(CommittedMail(mails: mails)))
    }
}

/// The mail of one commit for one scheduler, in seq order.
struct CommittedMail: Sendable {
    var mails: [any CommittedDelivery]
}
