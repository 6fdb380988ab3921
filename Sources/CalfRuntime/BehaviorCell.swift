import CalfControl

/// A process running a concrete behavior: its state and its turn.
///
/// Thread ownership: `state` belongs to the scheduler thread. `runTurn` is
/// `@inlinable` and reached through `turnFunction`, a closure made where `B`
/// is concrete, so the compiler specializes the whole message loop for the
/// behavior (PERF-NOTES: unspecialized generics cost 3–7×).
@usableFromInline
package final class BehaviorCell<B: Behavior>: MailboxCell<B.Message>, @unchecked Sendable {
    @usableFromInline package let behavior: B
    @usableFromInline @exclusivity(unchecked) package var state: B.State

    @usableFromInline
    package init(behavior: B, state: B.State, pid: Pid, scheduler: Scheduler) {
        self.behavior = behavior
        self.state = state
        super.init(pid: pid, scheduler: scheduler)
    }

    /// The turn of a `BehaviorCell<B>`, specialized where `B` is concrete.
    @inlinable
    package static var turnFunction: (ProcessCell, Int) -> Bool {
        { cell, budget in unsafeDowncast(cell, to: BehaviorCell<B>.self).runTurn(budget: budget, traced: false, bounded: false) }
    }

    /// The turn of a process with a bounded mailbox (`MailboxLimit`): the
    /// same, giving the places of what it took back to its `BoundedIntake`
    /// (one atomic step per turn), so an unbounded process pays nothing.
    @inlinable
    package static var boundedTurnFunction: (ProcessCell, Int) -> Bool {
        { cell, budget in unsafeDowncast(cell, to: BehaviorCell<B>.self).runTurn(budget: budget, traced: false, bounded: true) }
    }

    /// The turn of a traced process (`trace P`): the same, recording what
    /// it takes in and sends out. Swapped in for `turnFunction` while a
    /// trace is on, so an untraced process pays nothing for tracing.
    package static var tracedTurnFunction: (ProcessCell, Int) -> Bool {
        { cell, budget in unsafeDowncast(cell, to: BehaviorCell<B>.self).runTurn(budget: budget, traced: true, bounded: false) }
    }

    /// The traced turn of a process with a bounded mailbox.
    package static var tracedBoundedTurnFunction: (ProcessCell, Int) -> Bool {
        { cell, budget in unsafeDowncast(cell, to: BehaviorCell<B>.self).runTurn(budget: budget, traced: true, bounded: true) }
    }

    /// Its mailbox's bound, if it has one.
    @inlinable
    package final var bound: BoundedIntake<B.Message>? {
        // invariant: a transient cell's only intake is a BoundedIntake (Scheduler.start).
        intake.map { unsafeDowncast($0, to: BoundedIntake<B.Message>.self) }
    }

    package override final func setTraced(_ on: Bool) {
        let bounded = intake != nil
        turn = switch (on, bounded) {
        case (false, false): Self.turnFunction
        case (false, true): Self.boundedTurnFunction
        case (true, false): Self.tracedTurnFunction
        case (true, true): Self.tracedBoundedTurnFunction
        }
    }

    /// Handles up to `budget` messages; returns whether the process should run again.
    @inlinable @inline(__always)
    package final func runTurn(budget: Int, traced: Bool, bounded: Bool) -> Bool {
        var context = Context<B.Message>(cell: self)
        context.traced = traced
        var count = 0
        // Messages and calls taken: the places a bounded mailbox gets back.
        var admitted = 0
        defer { if bounded { bound?.taken(admitted) } }
        while count < budget, let envelope = mailbox.popFirst() {
            count &+= 1
            if traced, let trace { traceReceived(envelope, on: trace) }
            do {
                switch envelope {
                case .message(let message):
                    if bounded { admitted &+= 1 }
                    try behavior.handle(message, state: &state, context: &context)
                case .call(let message, let slot):
                    if bounded { admitted &+= 1 }
                    context.replySlot = slot
                    try behavior.handle(message, state: &state, context: &context)
                    context.replySlot = nil
                case .signal(let signal):
                    try handleSignal(signal, context: &context)
                case .stop(let reason):
                    context.stopReason = reason
                case .committed(let mail):
                    // invariant: only durable cells receive journaled mail; handled as plain mail if one strays.
                    if bounded { admitted &+= 1 }
                    try behavior.handle(mail.message, state: &state, context: &context)
                }
            } catch let exit as Exit {
                context.stopReason = exit.reason
            } catch {
                context.stopReason = .error(error)
            }
            if let reason = context.stopReason {
                handled &+= UInt64(count)
                scheduler.terminate(self, reason: reason)
                return false
            }
        }
        handled &+= UInt64(count)
        return !mailbox.isEmpty
    }

    @usableFromInline
    package final func handleSignal(_ signal: Signal, context: inout Context<B.Message>) throws {
        if case .exit(_, let reason) = signal, !trapExit {
            // Trapping was turned off after the signal was queued: act as Erlang would have.
            if !reason.isNormal { throw Exit(reason) }
            return
        }
        try behavior.handle(signal: signal, state: &state, context: &context)
    }

    /// Runs `started`; on a throw the caller tears the process down.
    @usableFromInline
    package final func runStarted() throws {
        var context = Context<B.Message>(cell: self)
        try behavior.started(state: &state, context: &context)
        if let reason = context.stopReason { throw Exit(reason) }
    }

    package override final func runTerminate(reason: ExitReason) {
        var context = Context<B.Message>(cell: self)
        behavior.terminate(reason: reason, state: &state, context: &context)
    }

    package override final var behaviorName: String { String(describing: B.self) }
}
