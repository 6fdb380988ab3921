import Glibc
import Synchronization
import CalfControl

/// A message in flight from another thread to a process of one scheduler,
/// laid out by hand so that neither side pays for reference counting or
/// unspecialized generics on the message path:
///
///     offset 0   next      Atomic<UnsafeMutableRawPointer?>   written once by the next sender
///     offset 8   receiver  Unmanaged<RemoteReceiver> (+1)     nil in the queue's placeholder;
///                                                         bit 0 set: forwarded by a process's old scheduler
///     offset 16+ payload                                      moved out by the receiver's acceptor
///
/// Thread ownership: the sender initializes a node and pushes it; from then
/// on only the scheduler's thread touches it, except `next`.
@usableFromInline
package enum RemoteNode {
    @usableFromInline package static let headerSize = 16

    /// A node for `envelope` to `cell` (any thread; specialized where `M`
    /// is concrete); `forwarded`: by the process's old scheduler after it moved.
    @inlinable
    package static func make<M: Sendable>(cell: MailboxCell<M>, envelope: __owned Envelope<M>, forwarded: Bool = false) -> UnsafeMutableRawPointer {
        let node = makeMail(cell: cell, capacity: 1, forwarded: forwarded)
        storeEnvelope(consume envelope, at: 0, in: node)
        setMailCount(1, of: node)
        return node
    }

    // Mail to a process is a run of envelopes in one node (one, or a batch
    // a sender gathered in a turn, `OutgoingMail`):
    //
    //     offset 16  count      Int            envelopes in the node
    //     offset 24+ envelopes  Envelope<M> × capacity

    @usableFromInline package static let mailCountOffset = 16

    /// Where the envelopes of a mail node for `M` start.
    @inlinable
    package static func mailOffset<M: Sendable>(_: M.Type) -> Int {
        let alignment = MemoryLayout<Envelope<M>>.alignment
        return (mailCountOffset + 8 + alignment - 1) / alignment * alignment
    }

    /// An empty mail node to `cell` with room for `capacity` envelopes (count unset).
    @inlinable
    package static func makeMail<M: Sendable>(cell: MailboxCell<M>, capacity: Int, forwarded: Bool = false) -> UnsafeMutableRawPointer {
        let node = allocateMail(capacity: capacity, as: M.self)
        let receiverBits = Unmanaged.passRetained(cell as RemoteReceiver).toOpaque()
        initializeHeader(node, cell: forwarded ? receiverBits + 1 : receiverBits)
        return node
    }

    /// Uninitialized memory for a mail node of `capacity` envelopes.
    @inlinable
    package static func allocateMail<M: Sendable>(capacity: Int, as: M.Type) -> UnsafeMutableRawPointer {
        let byteCount = mailOffset(M.self) + capacity * MemoryLayout<Envelope<M>>.stride
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: max(16, MemoryLayout<Envelope<M>>.alignment))
    }

    @inlinable
    package static func envelopes<M: Sendable>(of node: UnsafeMutableRawPointer, as: M.Type) -> UnsafeMutablePointer<Envelope<M>> {
        (node + mailOffset(M.self)).assumingMemoryBound(to: Envelope<M>.self)
    }

    /// Puts `envelope` in slot `index` of a mail node (uninitialized before).
    @inlinable @inline(__always)
    package static func storeEnvelope<M: Sendable>(_ envelope: __owned Envelope<M>, at index: Int, in node: UnsafeMutableRawPointer) {
        (envelopes(of: node, as: M.self) + index).initialize(to: consume envelope)
    }

    @inlinable
    package static func setMailCount(_ count: Int, of node: UnsafeMutableRawPointer) {
        (node + mailCountOffset).storeBytes(of: count, as: Int.self)
    }

    @inlinable
    package static func mailCount(_ node: UnsafeMutableRawPointer) -> Int {
        (node + mailCountOffset).load(as: Int.self)
    }

    /// A node carrying `payload` to `receiver`, whose acceptor knows its type (any thread).
    @inlinable
    package static func make<Payload>(receiver: RemoteReceiver, payload: __owned Payload, forwarded: Bool = false) -> UnsafeMutableRawPointer {
        let alignment = MemoryLayout<Payload>.alignment
        let offset = (headerSize + alignment - 1) / alignment * alignment
        let node = UnsafeMutableRawPointer.allocate(byteCount: offset + MemoryLayout<Payload>.size, alignment: max(16, alignment))
        let receiverBits = Unmanaged.passRetained(receiver).toOpaque()
        initializeHeader(node, cell: forwarded ? receiverBits + 1 : receiverBits)
        (node + offset).bindMemory(to: Payload.self, capacity: 1).initialize(to: consume payload)
        return node
    }

    /// Moves the payload out of a node made for `Payload`.
    @inlinable
    package static func takePayload<Payload>(_ node: UnsafeMutableRawPointer, as: Payload.Type) -> Payload {
        let alignment = MemoryLayout<Payload>.alignment
        let offset = (headerSize + alignment - 1) / alignment * alignment
        return (node + offset).assumingMemoryBound(to: Payload.self).move()
    }

    /// The placeholder a queue starts with.
    package static func makePlaceholder() -> UnsafeMutableRawPointer {
        let node = UnsafeMutableRawPointer.allocate(byteCount: headerSize, alignment: 16)
        initializeHeader(node, cell: nil)
        return node
    }

    @usableFromInline
    package static func initializeHeader(_ node: UnsafeMutableRawPointer, cell: UnsafeMutableRawPointer?) {
        node.bindMemory(to: Atomic<UnsafeMutableRawPointer?>.self, capacity: 1).initialize(to: Atomic(nil))
        (node + 8).storeBytes(of: cell, as: UnsafeMutableRawPointer?.self)
    }

    @inlinable
    package static func next(_ node: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UnsafeMutableRawPointer?>> {
        node.assumingMemoryBound(to: Atomic<UnsafeMutableRawPointer?>.self)
    }

    /// Takes the node's receiver reference (+1) and clears it, with whether
    /// the node was forwarded; nil for a placeholder.
    package static func takeReceiver(_ node: UnsafeMutableRawPointer) -> (RemoteReceiver, forwarded: Bool)? {
        guard let raw = (node + 8).load(as: UnsafeMutableRawPointer?.self) else { return nil }
        (node + 8).storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
        let forwarded = UInt(bitPattern: raw) & 1 != 0
        let pointer = forwarded ? raw - 1 : raw
        return (Unmanaged<RemoteReceiver>.fromOpaque(pointer).takeRetainedValue(), forwarded)
    }

    /// Moves envelope `index` out of a mail node for `M`.
    @inlinable
    package static func takeEnvelope<M: Sendable>(_ node: UnsafeMutableRawPointer, at index: Int, as: M.Type) -> Envelope<M> {
        (envelopes(of: node, as: M.self) + index).move()
    }

    /// Frees a node whose envelope has been moved out.
    @usableFromInline
    package static func free(_ node: UnsafeMutableRawPointer) {
        next(node).deinitialize(count: 1)
        node.deallocate()
    }
}

/// How a remote node is being taken: by which scheduler (nil: it is
/// discarded, the scheduler has stopped), and whether a process's old
/// scheduler forwarded it after the process moved.
@usableFromInline
package struct RemoteHandling {
    @usableFromInline package unowned(unsafe) let scheduler: Scheduler?
    @usableFromInline package let forwarded: Bool

    @usableFromInline
    package init(scheduler: Scheduler?, forwarded: Bool) {
        self.scheduler = scheduler
        self.forwarded = forwarded
    }

    /// Whether the payload is taken in (false: dead-lettered).
    @inlinable package var delivers: Bool { scheduler != nil }
}

/// What a remote node is addressed to: a process, or another receiver on the
/// scheduler's thread (the journal's release channel, a move's
/// acknowledgement). Its acceptor takes the node's payload, knowing its type.
///
/// Thread ownership: `remoteAcceptor` is set before the receiver gets its
/// first node and only read afterwards, on the scheduler's thread.
open class RemoteReceiver: @unchecked Sendable {
    /// Takes in or dead-letters the payload of a node addressed here, as
    /// `RemoteHandling` says; specialized for the payload's type.
    @usableFromInline @exclusivity(unchecked) package final var remoteAcceptor: (RemoteReceiver, UnsafeMutableRawPointer, RemoteHandling) -> Void = { _, _, _ in }

    @usableFromInline package init() {}
}

/// The mail other threads send to one scheduler's processes: a
/// multi-producer, single-consumer queue (Vyukov's intrusive design), FIFO
/// across all senders. One queue per scheduler, rather than one inbox per
/// process, keeps a message's cross-thread cost to one exchange and one
/// store, and keeps causal order: mail sent to a process from outside
/// reaches its mailbox before anything that mail's successors cause.
///
/// Thread ownership: `tail` is shared (exchanged by producers); `head`
/// belongs to the consumer, the scheduler's thread.
@usableFromInline
package final class RemoteQueue: @unchecked Sendable {
    /// The last node pushed.
    @usableFromInline package let tail: Atomic<UnsafeMutableRawPointer>
    /// Padding so producers' writes to `tail` do not share a line with `head`.
    private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// The placeholder before the first undelivered node (consumer only).
    @exclusivity(unchecked) private var head: UnsafeMutableRawPointer

    package init() {
        let placeholder = RemoteNode.makePlaceholder()
        tail = Atomic(placeholder)
        head = placeholder
    }

    deinit {
        // invariant: the scheduler is closed and drained before it goes away; whatever is left is freed.
        hand(to: nil)
        RemoteNode.free(head)
    }

    /// Pushes `node` (any thread). Sequentially consistent, so a consumer
    /// about to sleep either sees it or is seen asleep by `wake()`.
    @inlinable
    package func push(_ node: UnsafeMutableRawPointer) {
        let previous = tail.exchange(node, ordering: .acquiringAndReleasing)
        RemoteNode.next(previous).pointee.store(node, ordering: .sequentiallyConsistent)
    }

    /// Whether a pushed node is ready to pop (consumer only).
    package var hasItems: Bool {
        RemoteNode.next(head).pointee.load(ordering: .sequentiallyConsistent) != nil
    }

    /// Hands up to `limit` queued messages to their processes on
    /// `scheduler` (the consumer's), or to the dead letters when it is nil;
    /// returns how many (consumer only).
    @discardableResult
    package func hand(to scheduler: Scheduler?, limit: Int = .max) -> Int {
        var count = 0
        while count < limit, let node = pop() {
            accept(node, on: scheduler)
            count &+= 1
        }
        return count
    }

    /// Hands the messages pushed before this call (not those pushed while
    /// it runs, so a flood from other threads cannot keep it going) to their
    /// processes on `scheduler`; returns how many (consumer only).
    ///
    /// Every one of them: a producer that has swapped itself into the tail
    /// but not yet linked its node from the one before (it was preempted
    /// between the two) hides what others pushed after it, so this waits
    /// for that link instead of stopping there. A checkpoint round counts on
    /// it: the mail committed before the round must be in the mailboxes.
    @discardableResult
    package func handPushed(to scheduler: Scheduler?) -> Int {
        let last = tail.load(ordering: .acquiring)
        var count = 0
        while head != last {
            guard let node = pop() else {
                // A push under way ahead of `last`: its link comes in a moment.
                sched_yield()
                continue
            }
            accept(node, on: scheduler)
            count &+= 1
        }
        return count
    }

    /// Hands `node`'s payload to its receiver's acceptor (nothing for the placeholder).
    private func accept(_ node: UnsafeMutableRawPointer, on scheduler: Scheduler?) {
        guard let (receiver, forwarded) = RemoteNode.takeReceiver(node) else { return }
        receiver.remoteAcceptor(receiver, node, RemoteHandling(scheduler: scheduler, forwarded: forwarded))
    }

    /// The oldest node, or nil when none is linked yet (consumer only). It
    /// becomes the queue's placeholder: take its cell and envelope, do not free it.
    private func pop() -> UnsafeMutableRawPointer? {
        let current = head
        guard let next = RemoteNode.next(current).pointee.load(ordering: .acquiring) else { return nil }
        head = next
        RemoteNode.free(current)
        return next
    }
}
