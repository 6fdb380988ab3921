import CalfControl
import CalfRuntime

/// What a commit lets go on one scheduler, in commit order: its journaled
/// mail for the scheduler's processes and the releases that must run on the
/// scheduler's thread (a timer armed, a process started, terminated or
/// rebuilt).
package enum CommitRelease: Sendable {
    /// A journaled message going into its recipient's mailbox.
    case mail(any CommittedDelivery)
    /// Work on the scheduler's thread.
    case run(@Sendable () -> Void)
}

/// The writer's one channel to one scheduler: each commit's releases for
/// that scheduler travel as one node of the scheduler's remote queue (one
/// hand-over per commit and scheduler, not per message), and run there in
/// the order the commit had them, mail and work alike.
///
/// Not a process: a receiver of the scheduler's queue that nothing but the
/// writer pushes to. Thread ownership: pushed by the writer thread; its
/// acceptor runs on the scheduler's thread.
package final class ReleaseChannel: RemoteReceiver, @unchecked Sendable {
    private let scheduler: Scheduler

    package init(scheduler: Scheduler) {
        self.scheduler = scheduler
        super.init()
        remoteAcceptor = { _, node, handling in
            let taker = handling.scheduler
            let releases = RemoteNode.takePayload(node, as: [CommitRelease].self)
            for release in releases {
                switch release {
                case .mail(let mail): if let taker { mail.accept(on: taker) } else { mail.refuse() }
                // A stopped scheduler runs nothing more (as a job submitted to a stopped loop).
                case .run(let work): if taker != nil { work() }
                }
            }
        }
    }

    /// Hands `releases` to the scheduler (writer thread).
    package func hand(_ releases: [CommitRelease]) {
        scheduler.pushRemote(RemoteNode.make(receiver: self, payload: releases))
    }
}
