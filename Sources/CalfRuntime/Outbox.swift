import Glibc
import Synchronization

/// Mail a scheduler's processes send to processes of other schedulers
/// during one run of ready work, linked into one chain per destination and
/// pushed onto its remote queue in one exchange when the run ends (or the
/// chains grow long): a message across threads then costs a link, not an
/// atomic exchange on a contended line and a wakeup check each.
///
/// What is sent stays in order: per destination the chain is FIFO, and the
/// scheduler pushes it before anything else of this run can reach another
/// thread: a job posted to another scheduler (a signal, a kill, a monitor's
/// down: `Scheduler.onOwner`), a reply to a caller (`ReplySlot`), the moves
/// and the commit batch at the end of the run.
///
/// Thread ownership: the scheduler's loop thread.
@usableFromInline
package final class Outbox {
    /// The first and last node of each destination's chain, by scheduler index.
    @usableFromInline let firsts: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    @usableFromInline let lasts: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// The destinations with a chain, in the order they got one.
    @usableFromInline let used: UnsafeMutablePointer<Int>
    @usableFromInline @exclusivity(unchecked) var usedCount = 0
    /// Nodes linked and not yet pushed.
    @usableFromInline @exclusivity(unchecked) package var pending = 0
    @usableFromInline let capacity: Int

    /// An outbox for a node of `schedulers` schedulers.
    package init(schedulers: Int) {
        capacity = max(1, schedulers)
        firsts = .allocate(capacity: capacity)
        firsts.initialize(repeating: nil, count: capacity)
        lasts = .allocate(capacity: capacity)
        lasts.initialize(repeating: nil, count: capacity)
        used = .allocate(capacity: capacity)
        used.initialize(repeating: 0, count: capacity)
    }

    deinit {
        // invariant: the scheduler pushes its outbox at the end of every run; nothing is left to free.
        firsts.deallocate()
        lasts.deallocate()
        used.deallocate()
    }

    /// Links `node` at the end of the chain for scheduler `index`.
    @inlinable
    package func append(_ node: UnsafeMutableRawPointer, to index: Int) {
        if let last = lasts[index] {
            RemoteNode.next(last).pointee.store(node, ordering: .relaxed)
        } else {
            firsts[index] = node
            used[usedCount] = index
            usedCount &+= 1
        }
        lasts[index] = node
        pending &+= 1
    }

    /// Pushes every chain onto its destination's remote queue and empties the outbox.
    package func flush(to peers: [PeerScheduler]) {
        for slot in 0..<usedCount {
            let index = used[slot]
            // invariant: a used slot has both ends set by `append`.
            guard let first = firsts[index], let last = lasts[index] else { continue }
            firsts[index] = nil
            lasts[index] = nil
            peers[index].scheduler.pushRemote(first: first, last: last)
        }
        usedCount = 0
        pending = 0
    }
}

/// The scheduler whose loop runs on the calling thread, for code that
/// holds no reference to it (a reply completed from a handler).
package enum CurrentScheduler {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        // invariant: the process can always create one key at start; failure means the system is out of keys.
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// The scheduler of this thread, if it is a loop thread that ran work.
    package static var scheduler: Scheduler? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<Scheduler>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Binds `scheduler` to the calling thread (its loop thread, once).
    package static func bind(_ scheduler: Scheduler) {
        pthread_setspecific(key, Unmanaged.passUnretained(scheduler).toOpaque())
    }
}
