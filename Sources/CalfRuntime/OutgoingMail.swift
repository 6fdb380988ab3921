/// Mail a process sends during its turn to one process on another
/// scheduler, gathered into one remote node instead of one node per
/// message: a stream of messages across threads (Savina's counting, a
/// producer feeding a consumer) then pays one allocation, one reference
/// count and one exchange on the remote queue per batch of up to 64
/// messages, not per message, and the receiving thread frees one node.
///
/// Only consecutive sends to the same process gather: a send to any other
/// process on another thread pushes the batch first, and so does every
/// other hand-off a turn can make to another thread (a job for another
/// scheduler: links, monitors, exit signals; a reply; mail through the
/// journal), and the end of the turn. So the batch is in the remote queue
/// before anything that could have been caused by what follows it, and
/// nothing observable changes but when it leaves: at the latest when the
/// turn ends. Outside a turn (jobs, timers, released journal mail) each
/// message goes at once, as before.
///
/// Thread ownership: the scheduler's thread.
@usableFromInline
package struct OutgoingMail {
    /// The node being filled, not yet pushed; nil when none.
    @usableFromInline package var node: UnsafeMutableRawPointer?
    /// The process it goes to (identity only; the node holds the reference).
    @usableFromInline package var cell: UnsafeMutableRawPointer?
    /// The scheduler that owned that process when the node was begun.
    @usableFromInline package var owner: UnsafeMutableRawPointer?
    @usableFromInline package var count = 0
    @usableFromInline package var capacity = 0
    /// A turn runs: mail may gather.
    @usableFromInline package var gathering = false

    /// The most one node carries.
    @usableFromInline package static let largest = 64

    @usableFromInline package init() {}
}

extension Scheduler {
    /// Sends `envelope` to `cell`, owned by `owner`, another scheduler
    /// (this scheduler's thread): into the batch for that process when one
    /// is being gathered, else pushed at once.
    @inlinable @inline(__always)
    package func sendAcross<M: Sendable>(_ envelope: __owned Envelope<M>, to cell: MailboxCell<M>, ownedBy owner: Unmanaged<Scheduler>) {
        let target = Unmanaged.passUnretained(cell).toOpaque()
        if outgoing.cell == target, outgoing.owner == owner.toOpaque(), var node = outgoing.node {
            if _slowPath(outgoing.count == outgoing.capacity) { node = makeRoom(for: cell) }
            RemoteNode.storeEnvelope(consume envelope, at: outgoing.count, in: node)
            outgoing.count &+= 1
            return
        }
        if outgoing.node != nil { pushOutgoing() }
        guard outgoing.gathering else {
            let node = RemoteNode.make(cell: cell, envelope: consume envelope)
            // Not through a strong copy of the scheduler: its reference count is a line the owner writes too.
            owner._withUnsafeGuaranteedRef { $0.pushRemote(node) }
            return
        }
        let node = RemoteNode.makeMail(cell: cell, capacity: 1)
        RemoteNode.storeEnvelope(consume envelope, at: 0, in: node)
        outgoing.node = node
        outgoing.cell = target
        outgoing.owner = owner.toOpaque()
        outgoing.count = 1
        outgoing.capacity = 1
    }

    /// A full batch: grows it (1, then 8, then 64 messages), or pushes it
    /// and begins another. Returns the node to fill.
    @usableFromInline
    package func makeRoom<M: Sendable>(for cell: MailboxCell<M>) -> UnsafeMutableRawPointer {
        // invariant: called only while a batch for `cell` is open.
        let full = outgoing.node!
        let count = outgoing.count
        if count < OutgoingMail.largest {
            let capacity = count == 1 ? 8 : OutgoingMail.largest
            let grown = RemoteNode.regrowMail(full, count: count, capacity: capacity, as: M.self)
            outgoing.node = grown
            outgoing.capacity = capacity
            return grown
        }
        let owner = outgoing.owner
        pushOutgoing()
        let node = RemoteNode.makeMail(cell: cell, capacity: OutgoingMail.largest)
        outgoing.node = node
        outgoing.cell = Unmanaged.passUnretained(cell).toOpaque()
        outgoing.owner = owner
        outgoing.count = 0
        outgoing.capacity = OutgoingMail.largest
        return node
    }

    /// Pushes the batch being gathered, if any (this scheduler's thread):
    /// before a hand-off to another thread, and when a turn ends.
    @inlinable @inline(__always)
    package func flushOutgoing() {
        if outgoing.node != nil { pushOutgoing() }
    }

    @usableFromInline
    package func pushOutgoing() {
        guard let node = outgoing.node, let owner = outgoing.owner else { return }
        RemoteNode.setMailCount(outgoing.count, of: node)
        outgoing.node = nil
        outgoing.cell = nil
        outgoing.owner = nil
        Unmanaged<Scheduler>.fromOpaque(owner)._withUnsafeGuaranteedRef { $0.pushRemote(node) }
    }

    /// Runs `cell`'s turn, gathering its mail to other schedulers, and
    /// pushes what it gathered when the turn ends.
    @inlinable @inline(__always)
    package func runTurn(of cell: ProcessCell) -> Bool {
        outgoing.gathering = true
        let again = cell.turn(cell, budget)
        outgoing.gathering = false
        if outgoing.node != nil { pushOutgoing() }
        return again
    }
}

extension RemoteNode {
    /// Moves the `count` envelopes of a mail node not yet pushed into a
    /// larger one for the same receiver (whose reference it takes over) and frees the old.
    @inlinable
    package static func regrowMail<M: Sendable>(_ node: UnsafeMutableRawPointer, count: Int, capacity: Int, as: M.Type) -> UnsafeMutableRawPointer {
        let grown = allocateMail(capacity: capacity, as: M.self)
        initializeHeader(grown, cell: (node + 8).load(as: UnsafeMutableRawPointer?.self))
        envelopes(of: grown, as: M.self).moveInitialize(from: envelopes(of: node, as: M.self), count: count)
        free(node)
        return grown
    }
}
