import Synchronization
import CalfControl

/// How a process moves from one scheduler to another (between its turns),
/// with its mail in the order it was sent.
///
/// The old owner, on its thread, takes the process out of its tables and
/// run queue and writes the new scheduler into `ProcessCell.scheduler`:
/// from that store on, the new scheduler owns it. The process does not run
/// yet: a sender on another thread may have read the old scheduler just
/// before the store and still be about to push a message there. Such mail
/// reaches the old scheduler's remote queue, which forwards it to the new
/// one, marked as forwarded. Mail that came straight to the new scheduler
/// may be younger than forwarded mail from the same sender, so the process
/// waits (`Hold.arriving`) until no such sender is left: every other
/// scheduler runs a job that pushes an acknowledgement into the old
/// scheduler's queue (behind whatever it pushed there before), and the
/// old scheduler itself pushes one after taking the lock that sends from
/// outside any scheduler hold (`NodeCore.outsideSends`). The old scheduler
/// forwards each acknowledgement behind the mail ahead of it; when all
/// have come, every message sent on the strength of the old address has
/// been forwarded. The forwarded mail goes into the mailbox after what
/// the process brought and before what came straight, and it runs.
///
/// Timers it set move with it. Links, monitors and names hold the cell,
/// and jobs for a process are posted with `onOwner(of:)`, which follows it.
/// Moves are batched: the processes asked to move in one run of ready work
/// go together, one batch (and one round of acknowledgements) per destination.
extension Scheduler {
    /// Asks to move `cell` to `target` at the end of this run of ready
    /// work (loop thread; `cell` is owned here). `force`: even if pinned
    /// (a placement at spawn); otherwise a pinned process stays.
    package func move(_ cell: ProcessCell, to target: Scheduler, force: Bool = false) {
        guard target !== self, cell.scheduler === self else { return }
        departing.append(Departure(cell: cell, target: target, force: force))
    }

    /// Carries out the moves asked for (loop thread, between turns).
    package func flushDepartures() {
        let requests = departing
        departing = []
        guard node.acceptsMoves.load(ordering: .relaxed) else {
            for request in requests { stayHere(request.cell) }
            return
        }
        // Mail still in this scheduler's remote queue for the cells that
        // move is forwarded when taken (in its order, ahead of what comes
        // straight to the new owner): no need to drain the queue here, which
        // a flood from other threads could keep from ever ending.
        var batches: [MigrationBatch?] = Array(repeating: nil, count: peers.count)
        var moving: Set<ObjectIdentifier> = []
        for request in requests {
            let cell = request.cell
            guard cell.scheduler === self, cell.status == .alive, cell.arrival == nil,
                  request.force || (!cell.pinned && cell.canMove),
                  !request.target.closed.load(ordering: .relaxed),
                  cell.departs() else {
                stayHere(cell)
                continue
            }
            let index = request.target.index
            let batch = batches[index] ?? MigrationBatch(source: self, destination: request.target)
            batches[index] = batch
            batch.cells.append(cell)
            moving.insert(ObjectIdentifier(cell))
            cell.arrival = cell.makeArrival(batch: batch)
            cell.holds |= Hold.arriving
            processes[cell.pid] = nil
        }
        guard !moving.isEmpty else { return }
        // Cells the balancer took off the run queue are not scheduled: search it only for the others.
        if requests.contains(where: { $0.cell.scheduled }) {
            runQueue.removeAll { (cell: ProcessCell) -> Bool in
                guard moving.contains(ObjectIdentifier(cell)) else { return false }
                cell.scheduled = false
                return true
            }
        }
        for entry in timers.remove(ownedBy: moving) {
            // invariant: an entry taken for `moving` has an owner among the batched cells.
            guard let owner = entry.owner, let batch = owner.arrival?.batch else { continue }
            batch.timers.append(entry)
        }
        armTimer()
        let stamp = now
        let sent = batches.compactMap { $0 }
        // Everything above is written before the new owner can see the cells.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        for batch in sent {
            batch.awaiting = peers.count
            for cell in batch.cells {
                cell.movedAt = stamp
                cell.scheduler = batch.destination
            }
        }
        node.movesInFlight.wrappingAdd(sent.count, ordering: .relaxed)
        node.movesBegun.wrappingAdd(sent.count, ordering: .relaxed)
        node.processesMoved.wrappingAdd(moving.count, ordering: .relaxed)
        for batch in sent {
            let destination = batch.destination
            destination.loop.execute { destination.arrive(batch) }
            for peer in peers where peer.scheduler !== self && peer.scheduler !== destination {
                let other = peer.scheduler
                other.loop.execute { batch.source.pushRemote(batch.makeAcknowledgement()) }
            }
        }
        // Senders from outside any scheduler read and push under this lock:
        // once taken, none of them still holds the old address.
        node.outsideSends.withLock { _ in }
        for batch in sent { pushRemote(batch.makeAcknowledgement()) }
    }

    /// A move that does not happen: a process the balancer took off the run
    /// queue for it goes back on (it may have mail).
    private func stayHere(_ cell: ProcessCell) {
        guard cell.scheduler === self, cell.arrival == nil, cell.status == .alive, !cell.scheduled else { return }
        makeRunnable(cell)
    }

    /// Takes in a batch of processes moving here (loop thread of the destination).
    package func arrive(_ batch: MigrationBatch) {
        for cell in batch.cells where cell.status == .alive { processes[cell.pid] = cell }
        adoptTimers(batch.timers)
        batch.timers = []
        // This thread's own sends to the old address are all pushed by now.
        batch.source.pushRemote(batch.makeAcknowledgement())
    }

    /// Runs `work` on the thread of the scheduler that owns `cell`: at once
    /// if that is this one (the calling thread's), else as a job there,
    /// following the process if it moves meanwhile.
    package func onOwner(of cell: ProcessCell, _ work: @escaping @Sendable (Scheduler) -> Void) {
        if cell.scheduler === self {
            work(self)
        } else {
            // The job may act on what this thread gathered to send: that goes first.
            flushOutgoing()
            Scheduler.post(work, toOwnerOf: cell)
        }
    }

    /// Posts `work` as a job to the scheduler owning `cell` (any thread); it
    /// runs there, or is posted on if the process moved before it ran.
    package static func post(_ work: @escaping @Sendable (Scheduler) -> Void, toOwnerOf cell: ProcessCell) {
        let owner = cell.scheduler
        owner.loop.execute {
            if cell.scheduler === owner { work(owner) } else { post(work, toOwnerOf: cell) }
        }
    }
}

/// A move asked for, carried out at the end of the run.
package struct Departure {
    package let cell: ProcessCell
    package let target: Scheduler
    package let force: Bool
}

/// A scheduler another one refers to without owning it (the node owns them all).
package struct PeerScheduler {
    package unowned(unsafe) let scheduler: Scheduler
}

/// Processes moving together from one scheduler to another, and the
/// acknowledgements the destination waits for before they run there
/// (`Scheduler+Migration` says why).
///
/// Thread ownership: `cells` and `timers` are written by the source before
/// the move and read by the destination after; `awaiting` belongs to the
/// destination's thread. Its acknowledgement nodes carry no payload.
@usableFromInline
package final class MigrationBatch: RemoteReceiver, @unchecked Sendable {
    package let source: Scheduler
    package let destination: Scheduler
    package var cells: [ProcessCell] = []
    package var timers: [TimerQueue.Entry] = []
    /// Acknowledgements still to come: one per scheduler but the source,
    /// and one for the senders outside any scheduler.
    package var awaiting = 0

    package init(source: Scheduler, destination: Scheduler) {
        self.source = source
        self.destination = destination
        super.init()
        remoteAcceptor = { receiver, node, handling in
            let batch = unsafeDowncast(receiver, to: MigrationBatch.self)
            RemoteNode.takePayload(node, as: Void.self)
            guard let taker = handling.scheduler else { return }
            if taker === batch.destination {
                batch.acknowledged()
            } else {
                // Behind the forwarded mail that was queued before it.
                batch.destination.pushRemote(batch.makeAcknowledgement())
            }
        }
    }

    /// A node that acknowledges this batch once it reaches the destination.
    package func makeAcknowledgement() -> UnsafeMutableRawPointer {
        RemoteNode.make(receiver: self, payload: ())
    }

    private func acknowledged() {
        awaiting -= 1
        guard awaiting == 0 else { return }
        for cell in cells { cell.finishArrival() }
        cells = []
        destination.node.movesInFlight.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// A process's move under way, kept by the process on its new scheduler:
/// where the mail it brought ends, and the mail forwarded after it.
///
/// Thread ownership: the new owner's thread.
@usableFromInline
package class Arrival {
    /// Messages in its mailbox when it left: those after them came straight to the new scheduler.
    package let mailboxMark: Int
    package let batch: MigrationBatch

    package init(mailboxMark: Int, batch: MigrationBatch) {
        self.mailboxMark = mailboxMark
        self.batch = batch
    }
}

/// An arrival of a process with messages of type `Message`, which holds
/// the mail forwarded from the old scheduler until the move ends.
@usableFromInline
package final class TypedArrival<Message: Sendable>: Arrival {
    @usableFromInline package var forwarded: [Envelope<Message>] = []
}

