import CalfControl

/// What a handler can do besides changing its state: reply, send, spawn,
/// link, monitor, set timers, register a name, stop.
///
/// A context is valid only during the callback it is passed to, on the
/// process's own thread. Its effects take place as they are called (for a
/// transient process); the durability issue routes them through a group
/// commit before they are released.
public struct Context<Message: Sendable> {
    @usableFromInline package unowned(unsafe) let cell: MailboxCell<Message>
    @usableFromInline package var replySlot: ReplySlot?
    @usableFromInline package var stopReason: ExitReason?
    /// The process is traced (its turn says so; false in other callbacks).
    @usableFromInline package var traced = false

    @usableFromInline
    package init(cell: MailboxCell<Message>) {
        self.cell = cell
    }

    /// This process's own address.
    public var address: Address<Message> { Address(cell: cell) }

    /// This process's pid.
    public var pid: Pid { cell.pid }

    /// The index of the scheduler this process runs on.
    public var schedulerIndex: Int { cell.scheduler.index }

    // MARK: Messages

    /// Sends `message` to `address` (asynchronous; order kept per pair of processes).
    /// - Returns: false if the process refused it: a full bounded mailbox
    ///   (`MailboxLimit`: dropped, or the sender's to handle, as its
    ///   `MailboxOverflow` says), a durable process overloaded or stopping.
    @inlinable @discardableResult
    public func send<M>(_ message: M, to address: Address<M>) -> Bool {
        if _slowPath(traced), let trace = cell.trace { cell.traceSent("message", message, to: address.cell.pid, on: trace) }
        return cell.schedulerRef._withUnsafeGuaranteedRef { address.cell.deliver(.message(message), from: $0) }
    }

    /// Sends `message` to the process registered as `name`.
    /// - Returns: false when no process of that message type has the name
    ///   (counted as a dead letter), or the process refused it (see above).
    @discardableResult
    public func send<M: Sendable>(_ message: M, to name: String) -> Bool {
        guard let target: Address<M> = cell.scheduler.node.lookup(name) else {
            cell.scheduler.node.countDeadLetter()
            return false
        }
        if _slowPath(traced), let trace = cell.trace { cell.traceSent("message", message, to: target.cell.pid, on: trace) }
        return target.cell.deliver(.message(message), from: cell.scheduler)
    }

    /// Answers the `call` being handled. Later replies to the same call are ignored;
    /// replying while handling a plain message does nothing.
    public func reply(_ value: some Sendable) {
        if traced, let trace = cell.trace, replySlot != nil { cell.traceSent("reply", value, to: nil, on: trace) }
        guard let replySlot else { return }
        // The caller may act on the reply at once, on another thread: what this turn sent goes first.
        cell.scheduler.flushOutgoing()
        replySlot.complete(.success(value))
    }

    /// Takes the reply owed to the current caller so it can be answered later
    /// (after this handler returned); `nil` when the message is not a call.
    public mutating func takePendingReply() -> PendingReply? {
        defer { replySlot = nil }
        return replySlot.map(PendingReply.init(slot:))
    }

    /// Calls `address` without blocking: the reply (or the failure) comes back
    /// to this process as the message `transform` makes of it.
    public func call<M, R: Sendable>(
        _ address: Address<M>, _ message: M, timeout: Duration = .seconds(5),
        _ transform: @escaping @Sendable (Result<R, CallError>) -> Message
    ) {
        let me = Address(cell: cell)
        let slot = ReplySlot { result in
            me.cell.deliverRemote(.message(transform(Node.cast(result))))
        }
        cell.scheduler.addTimer(after: timeout, owner: cell) { _ in slot.complete(.failure(.timeout(timeout))) }
        if _slowPath(traced), let trace = cell.trace { cell.traceSent("call", message, to: address.cell.pid, on: trace) }
        address.cell.deliver(.call(message, slot), from: cell.scheduler)
    }

    // MARK: Processes

    /// Spawns a process and runs its start callbacks (on this process's
    /// scheduler) before returning; then it goes where `placement` says, at
    /// the end of this turn. With `link`, the two are linked.
    /// - Throws: `SpawnError` when the new process fails to start, or
    ///   `placement` names a scheduler the node lacks.
    @inlinable
    @discardableResult
    public func spawn<B: Behavior>(_ behavior: B, link: Bool = false, placement: Placement = .local) throws -> Address<B.Message> {
        try cell.scheduler.start(behavior, linkedTo: link ? cell : nil, placement: placement)
    }

    /// Stops this process with `reason` once the current callback returns.
    public mutating func stop(_ reason: ExitReason = .normal) {
        stopReason = reason
    }

    /// Whether exit signals from linked processes arrive as `Signal.exit`
    /// instead of taking this process down (Erlang's `trap_exit`).
    public var trapExit: Bool {
        get { cell.trapExit }
        nonmutating set { cell.trapExit = newValue }
    }

    /// Links this process with `address`: when either exits abnormally, the
    /// other does too (unless it traps exits). Linking to a dead process
    /// delivers an exit signal with reason `noProcess`.
    public func link<M>(_ address: Address<M>) {
        cell.scheduler.link(cell, address.cell)
    }

    /// Removes a link; no exit signal crosses it afterwards.
    public func unlink<M>(_ address: Address<M>) {
        cell.scheduler.unlink(cell, address.cell)
    }

    /// Monitors `address`: a `Signal.down` arrives when it exits (at once,
    /// with `noProcess`, if it is already dead).
    @discardableResult
    public func monitor<M>(_ address: Address<M>) -> MonitorRef {
        cell.scheduler.monitor(watcher: cell, target: address.cell)
    }

    /// Removes a monitor; its down signal, if not yet handled, is dropped.
    public func demonitor(_ ref: MonitorRef) {
        cell.scheduler.demonitor(watcher: cell, ref: ref)
    }

    /// Sends an exit signal with `reason` to `address`, as if a linked process
    /// had exited: trapped when it traps exits, ignored when `normal`.
    public func exit<M>(_ address: Address<M>, reason: ExitReason) {
        cell.scheduler.sendExitSignal(from: cell.pid, reason: reason, to: address.cell)
    }

    /// Kills `address`: it ends at once with reason `killed`; this cannot be trapped.
    public func kill<M>(_ address: Address<M>) {
        cell.scheduler.kill(address.cell)
    }

    // MARK: Timers

    /// Sends `message` to `address` after `delay`.
    @discardableResult
    public func sendAfter<M>(_ message: M, to address: Address<M>, after delay: Duration) -> TimerRef {
        cell.scheduler.addTimer(after: delay, owner: cell) { scheduler in
            address.cell.deliver(.message(message), from: scheduler)
        }
    }

    /// Sends `message` to this process after `delay`.
    @discardableResult
    public func sendAfter(_ message: Message, after delay: Duration) -> TimerRef {
        sendAfter(message, to: address, after: delay)
    }

    /// Cancels a timer this process set. Returns true if it had not fired yet.
    @discardableResult
    public func cancelTimer(_ timer: TimerRef) -> Bool {
        cell.scheduler.cancelTimer(timer)
    }

    // MARK: Names

    /// Registers this process under `name`; the name is freed when it exits.
    /// - Throws: `NameError` if the name is taken or this process has a name.
    public func register(_ name: String) throws(NameError) {
        try cell.scheduler.node.register(name, cell)
    }

    /// Frees this process's registered name, if it has one.
    public func unregister() {
        cell.scheduler.node.unregister(cell)
    }
}
