import CalfControl

extension Node {
    /// Waits until the node has nothing left to do but wait: every
    /// scheduler's run queue and remote queue empty, no process moving
    /// between schedulers, no commit batch waiting, each layer idle (the journal's writer) — checked again after each round
    /// in which anything still moved. Timers not yet due do not count (with
    /// a `ManualClock`, advance it to fire them). For tests: a way to wait
    /// for the consequences of what was sent (mail a process passes on, a
    /// restart, a name freed) by the node's own events, not by wall time.
    /// Returns false if the node was still busy after `rounds` rounds.
    @discardableResult
    public func settled(rounds: Int = 10_000) async -> Bool {
        var previous: [UInt64]?
        for _ in 0..<rounds {
            var idle = true
            var turns: [UInt64] = []
            let layerChecks = core.attachedLayers.map { $0.beginSettleRound() }
            for scheduler in schedulers {
                let (quiet, taken) = await onLoop(scheduler) { scheduler -> (Bool, UInt64) in
                    // Anything taken may have gone on to another scheduler without a turn (mail for a process that moved).
                    let taken = scheduler.takeAllRemote()
                    scheduler.runEnded()
                    return (taken == 0 && scheduler.runQueue.isEmpty && !scheduler.remote.hasItems, scheduler.turns)
                }
                idle = idle && quiet
                turns.append(taken)
            }
            for check in layerChecks where !(await check()) { idle = false }
            if core.movesInFlight.load(ordering: .relaxed) != 0 { idle = false }
            // Quiet everywhere, and no turn taken anywhere since the round before looked.
            if idle, turns == previous { return true }
            previous = turns
            await Task.yield()
        }
        return false
    }
}
