import CalfLoop
import CalfControl

extension Scheduler {
    /// Runs `action` on this scheduler's thread after `delay` (loop
    /// thread); a timer of process `owner` moves with it to another
    /// scheduler and runs there.
    @usableFromInline
    @discardableResult
    package func addTimer(after delay: Duration, owner: ProcessCell? = nil, _ action: @escaping (Scheduler) -> Void) -> TimerRef {
        let ref = TimerRef(id: node.makeReference())
        let (sum, overflow) = now.addingReportingOverflow(delay.nanoseconds)
        let deadline = overflow ? .max : sum
        let wasFirst = timers.nextDeadline.map { deadline < $0 } ?? true
        timers.insert(.init(deadline: deadline, id: ref.id, owner: owner, action: action))
        if wasFirst { armTimer() }
        return ref
    }

    /// Takes in the timers of processes that moved here (loop thread).
    package func adoptTimers(_ entries: [TimerQueue.Entry]) {
        guard !entries.isEmpty else { return }
        for entry in entries { timers.insert(entry) }
        armTimer()
    }

    /// Cancels a pending timer set on this scheduler; returns whether it was pending.
    @usableFromInline
    package func cancelTimer(_ ref: TimerRef) -> Bool {
        timers.cancel(ref.id)
    }

    /// The time timers go by: the node's manual clock if it has one, else the system's monotonic clock.
    @usableFromInline package var now: UInt64 { node.clock?.now ?? monotonicNanoseconds() }

    package func armTimer() {
        guard let deadline = timers.nextDeadline else {
            timerHandle?.stop()
            return
        }
        // A manual clock fires the timers itself when it is advanced.
        guard node.clock == nil else { return }
        let now = monotonicNanoseconds()
        let waitNanoseconds = deadline > now ? deadline - now : 0
        let milliseconds = (waitNanoseconds + 999_999) / 1_000_000
        do {
            if timerHandle == nil { timerHandle = try LoopTimer(loop: loop) }
            try timerHandle?.start(milliseconds: milliseconds) { [unowned self] in self.fireTimers() }
        } catch {
            // A libuv timer on a live loop cannot fail to start; should it, the
            // timers still fire: runReadyWork checks the earliest deadline.
            timerHandle = nil
        }
    }

    package func fireTimers() {
        for action in timers.popDue(now: now) { action(self) }
        armTimer()
    }
}
