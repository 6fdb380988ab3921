import CalfLoop
import Synchronization

/// What a scheduler publishes for the others to balance by, and the steal
/// requests they leave it.
///
/// Thread ownership: written by the scheduler's own thread (`stealRequest`
/// by any thread, with a compare-and-exchange); read by any.
package final class BalanceFigures: Sendable {
    /// Its share of time busy, per mille, smoothed over ticks.
    package let load = Atomic<Int>(0)
    /// When `load` was measured (monotonic nanoseconds).
    package let stamp = Atomic<UInt64>(0)
    /// Runnable processes in its run queue at the end of its last run.
    package let queued = Atomic<Int>(0)
    /// The index of a scheduler that ran out of work and asks for some, or -1.
    package let stealRequest = Atomic<Int>(-1)

    package init() {}
}

/// A scheduler's own balancing state (loop thread only).
package struct BalanceState {
    /// Measures the load every `Balancing.tick` while the scheduler is busy.
    package var timer: LoopTimer?
    package var ticking = false
    package var lastTickAt: UInt64 = 0
    package var lastIdle: UInt64 = 0
    package var lastTurns: UInt64 = 0
    package var quietTicks = 0
    /// When it last looked for work to steal (at most once a millisecond).
    package var lastStealLook: UInt64 = 0
    /// When it last considered sharing in the middle of a run (at most once a millisecond).
    package var lastShareDuringRun: UInt64 = 0
    /// When the run under way began (read after its second turn), or 0.
    package var runStartedAt: UInt64 = 0

    package init() {}
}

/// The balancer (`Balancing` says what it does). It runs on every
/// scheduler's own thread, at two moments: when the scheduler runs out of
/// work (it may ask a busy one for some), and at its ticks while it is busy
/// (it measures itself; it may give work to an idle one; one tick at a time
/// across the node decides to park or unpark a scheduler). All moves go
/// through `move(_:to:)`, between turns.
extension Scheduler {
    package var balancing: Balancing { node.balancing }

    /// End of a run of ready work (loop thread): hands work to a thief that
    /// asked, publishes the run queue's length, and starts the ticks of a
    /// scheduler that just became busy.
    @inline(__always)
    package func balanceAfterRun(ranTurns: Bool) {
        if _slowPath(figures.stealRequest.load(ordering: .relaxed) >= 0) { giveToThief() }
        figures.queued.store(runQueue.count, ordering: .relaxed)
        if ranTurns, !balance.ticking { startBalanceTicks() }
    }

    /// The loop ran out of work (`LoopDriver.willIdle`): at most once a
    /// millisecond, asks the scheduler with the longest run queue for half of it.
    @usableFromInline package func willIdle(at nanoseconds: UInt64) {
        guard node.balances, nanoseconds &- balance.lastStealLook >= 1_000_000 else { return }
        balance.lastStealLook = nanoseconds
        askForWork()
    }

    /// Leaves a steal request with the peer whose run queue is longest, if
    /// it is long enough to share.
    package func askForWork() {
        guard !parked.load(ordering: .relaxed), !closed.load(ordering: .relaxed) else { return }
        var victim: Scheduler?
        var most = balancing.stealAtQueued - 1
        for peer in peers where peer.scheduler !== self {
            let queued = peer.scheduler.figures.queued.load(ordering: .relaxed)
            if queued > most {
                most = queued
                victim = peer.scheduler
            }
        }
        guard let victim else { return }
        if victim.figures.stealRequest.compareExchange(expected: -1, desired: index, ordering: .relaxed).exchanged {
            victim.loop.wake()
        }
    }

    /// The most processes one steal or share moves: small batches, often
    /// (whole halves of a queue of 40,000 new processes cost fork-join
    /// creation a third of its rate).
    static let stealBatch = 64

    /// Gives half of the movable runnable processes (at most `stealBatch`) to the scheduler that asked.
    private func giveToThief() {
        let thiefIndex = figures.stealRequest.exchange(-1, ordering: .relaxed)
        guard thiefIndex >= 0, thiefIndex < peers.count, thiefIndex != index else { return }
        let thief = peers[thiefIndex].scheduler
        guard !thief.parked.load(ordering: .relaxed) else { return }
        share(upTo: min(runQueue.count / 2, Self.stealBatch), to: { _ in thief }, honouringSettle: true, as: .steal)
    }

    /// Moves up to `limit` movable processes from the back of the run queue
    /// (those that would wait longest) to `target(cell)`. They are taken off
    /// the queue here, so that the move need not search it. It looks at
    /// no more than `4 × limit + 64` of them: a long queue of processes
    /// that may not move (a mass activation of durable ones, say) was
    /// looked through whole every millisecond, 10 % of a scheduler's time.
    private func share(upTo limit: Int, to target: (ProcessCell) -> Scheduler?, honouringSettle: Bool, as kind: BalancerMove) {
        guard limit > 0, !runQueue.isEmpty else { return }
        let now = self.now
        let settle = balancing.settle.nanoseconds
        let busy = staysBusy
        var taken = 0
        var staying: [ProcessCell] = []
        var looked = 0
        let available = min(runQueue.count, 4 &* limit &+ 64)
        while looked < available, taken < limit, let cell = runQueue.popLast() {
            looked += 1
            guard cell.status == .alive, cell.holds == 0, cell.arrival == nil, !cell.pinned, cell.canMove,
                  cell.movesWithTheBalancer(kind, fromBusyScheduler: busy),
                  !honouringSettle || cell.movedAt == 0 || now &- cell.movedAt >= settle,
                  let destination = target(cell), destination !== self else {
                staying.append(cell)
                continue
            }
            cell.scheduled = false
            move(cell, to: destination)
            taken += 1
        }
        // The ones looked at and kept go back at the end, in their order.
        for cell in staying.reversed() { runQueue.append(cell) }
    }

    // MARK: Ticks

    private func startBalanceTicks() {
        balance.ticking = true
        let milliseconds = max(1, balancing.tick.nanoseconds / 1_000_000)
        do {
            if balance.timer == nil { balance.timer = try LoopTimer(loop: loop) }
            let now = EventLoop.monotonicNanoseconds()
            balance.lastTickAt = now
            balance.lastIdle = loop.idleNanoseconds(at: now)
            balance.lastTurns = turns
            balance.quietTicks = 0
            try balance.timer?.start(milliseconds: milliseconds, repeatMilliseconds: milliseconds) { [unowned self] in
                self.balanceTick()
            }
        } catch {
            // A loop that cannot make a timer (it is closing) balances no more; `ticking` stays set.
        }
    }

    /// Stops the ticks (the loop is stopping).
    package func stopBalancing() {
        balance.timer?.close()
        balance.timer = nil
    }

    private func balanceTick() {
        let now = EventLoop.monotonicNanoseconds()
        let idle = loop.idleNanoseconds(at: now)
        let wall = now &- balance.lastTickAt
        let idleShare = wall == 0 ? 1000 : Int(min(1000, (idle &- balance.lastIdle) &* 1000 / wall))
        // Smoothed: half the last figure, half this tick's.
        let smoothed = (figures.load.load(ordering: .relaxed) + (1000 - idleShare)) / 2
        balance.lastTickAt = now
        balance.lastIdle = idle
        figures.load.store(smoothed, ordering: .relaxed)
        figures.stamp.store(now, ordering: .relaxed)
        if turns == balance.lastTurns, runQueue.isEmpty { balance.quietTicks += 1 } else { balance.quietTicks = 0 }
        balance.lastTurns = turns
        if balance.quietTicks >= 3 {
            // Quiet: no ticks until it runs work again (an idle node does not wake for them).
            balance.timer?.stop()
            balance.ticking = false
            figures.load.store(0, ordering: .relaxed)
            return
        }
        if parked.load(ordering: .relaxed) {
            // Parked with work queued (mail kept coming): it goes to the active ones.
            share(upTo: runQueue.count, to: { [node, peers] _ in node.activeTarget(among: peers) }, honouringSettle: false, as: .evacuation)
        } else if runQueue.count >= balancing.stealAtQueued, smoothed >= perMille(balancing.spreadAbove) {
            // Busy with work waiting: some of it to a peer that idles or has far less waiting.
            if let (peer, count, kind) = evenOutTarget(at: now) {
                share(upTo: count, to: { _ in peer }, honouringSettle: true, as: kind)
            }
        }
        if !departing.isEmpty { flushDepartures() }
        decideParking(at: now)
    }

    /// Mid-run, past its first millisecond (loop thread, between turns):
    /// publishes the run queue's length, and at most once a millisecond
    /// gives part of a long queue to an idle peer, or to one with far less
    /// waiting (`evenOutTarget`). An idle scheduler
    /// sleeps in the kernel and asks for nothing, and this one's ticks
    /// fire only between runs: without this, a burst of slow turns (a
    /// handler computing for milliseconds) stays on one core for the
    /// whole of a 100 ms run.
    package func shareDuringRun(at now: UInt64) {
        figures.queued.store(runQueue.count, ordering: .relaxed)
        guard now &- balance.lastShareDuringRun >= 1_000_000, runQueue.count >= balancing.stealAtQueued,
              !parked.load(ordering: .relaxed) else { return }
        balance.lastShareDuringRun = now
        guard let (peer, count, kind) = evenOutTarget(at: now) else { return }
        share(upTo: count, to: { _ in peer }, honouringSettle: true, as: kind)
        if !departing.isEmpty { flushDepartures() }
    }

    /// Where a busy scheduler's waiting work should partly go, and how
    /// much (at most `stealBatch`): half of it to the idlest active peer if
    /// that one idles (under 30 %); else, as the BEAM evens out its run
    /// queues, half the difference to the active peer with the shortest
    /// queue if this one is at least twice as long (plus `stealAtQueued`).
    /// Two busy schedulers with 13 and 3 processes each keep both cores
    /// busy, but each of the 13 gets a quarter of the time of each of the 3.
    private func evenOutTarget(at now: UInt64) -> (Scheduler, Int, BalancerMove)? {
        let count = runQueue.count
        if let idlest = idlestPeer(at: now), load(of: idlest, at: now) < 300 {
            return (idlest, min(count / 2, Self.stealBatch), .share)
        }
        var shortest: (Scheduler, Int)?
        for peer in peers where peer.scheduler !== self && !peer.scheduler.parked.load(ordering: .relaxed) {
            let queued = peer.scheduler.figures.queued.load(ordering: .relaxed)
            if shortest == nil || queued < shortest!.1 { shortest = (peer.scheduler, queued) }
        }
        guard let (peer, queued) = shortest, count >= 2 &* queued &+ balancing.stealAtQueued else { return nil }
        return (peer, min((count &- queued) / 2, Self.stealBatch), .evenOut)
    }

    /// A peer's published load. A scheduler that goes quiet publishes 0 as
    /// its ticks stop; one whose figure is older than three ticks without
    /// that is in a long run (ticks fire between runs, and a run lasts up
    /// to 100 ms): full, if the run's queue it publishes holds work
    /// waiting. (Taken for idle, two schedulers under a flood each gave the
    /// other work every millisecond, and the durable commit p99 went from
    /// 5 ms to over 100 ms.)
    private func load(of scheduler: Scheduler, at now: UInt64) -> Int {
        let figures = scheduler.figures
        let published = figures.load.load(ordering: .relaxed)
        guard now &- figures.stamp.load(ordering: .relaxed) > 3 &* balancing.tick.nanoseconds else { return published }
        return figures.queued.load(ordering: .relaxed) >= balancing.stealAtQueued ? 1000 : published
    }

    private func idlestPeer(at now: UInt64) -> Scheduler? {
        var best: (Scheduler, Int)?
        for peer in peers where peer.scheduler !== self && !peer.scheduler.parked.load(ordering: .relaxed) {
            let figure = load(of: peer.scheduler, at: now)
            if best == nil || figure < best!.1 { best = (peer.scheduler, figure) }
        }
        return best?.0
    }

    /// Parks the least loaded scheduler when the others could carry the
    /// load, or brings a parked one back when every active one is full;
    /// one tick at a time across the node, and no change sooner than 200 ms
    /// after the last.
    private func decideParking(at now: UInt64) {
        let every = max(50_000_000, 5 &* balancing.tick.nanoseconds)
        let last = node.balanceDecidedAt.load(ordering: .relaxed)
        guard now &- last >= every,
              node.balanceDecidedAt.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged,
              now &- node.parkingChangedAt.load(ordering: .relaxed) >= 200_000_000 else { return }
        let open = peers.map(\.scheduler).filter { !$0.closed.load(ordering: .relaxed) }
        let active = open.filter { !$0.parked.load(ordering: .relaxed) }
        let loads = active.map { load(of: $0, at: now) }
        // Work waiting in a run queue is not a low load, whatever the figures
        // say (a scheduler that just became busy has a smoothed load of half).
        let waiting = active.contains { $0.figures.queued.load(ordering: .relaxed) >= balancing.stealAtQueued }
        if active.count > 1, !waiting, Double(loads.reduce(0, +)) < Double(active.count - 1) * Double(perMille(balancing.compactBelow)) {
            // invariant: active has at least two members here, so it has a minimum.
            let quietest = zip(active, loads).min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0.index > $1.0.index) }!.0
            quietest.parked.store(true, ordering: .relaxed)
            node.parkingChangedAt.store(now, ordering: .relaxed)
            quietest.loop.execute { quietest.evacuate() }
            return
        }
        let spread = perMille(balancing.spreadAbove)
        if let back = open.first(where: { $0.parked.load(ordering: .relaxed) }),
           zip(active, loads).allSatisfy({ $0.1 >= spread && $0.0.figures.queued.load(ordering: .relaxed) >= 2 }) {
            back.parked.store(false, ordering: .relaxed)
            node.parkingChangedAt.store(now, ordering: .relaxed)
            back.loop.execute { back.askForWork() }
        }
    }

    /// Just parked (loop thread): every movable process goes to the active schedulers.
    private func evacuate() {
        guard parked.load(ordering: .relaxed) else { return }
        for cell in processes.values where cell.status == .alive && cell.arrival == nil && !cell.pinned && cell.canMove && cell.movesWithTheBalancer(.evacuation, fromBusyScheduler: false) {
            let target = node.activeTarget(among: peers)
            guard let target, target !== self else { break }
            move(cell, to: target)
        }
        if !departing.isEmpty { flushDepartures() }
    }

    private func perMille(_ share: Double) -> Int { Int((share * 1000).rounded()) }

    /// Whether it stays busy, not just between two bursts: its last
    /// measured load (smoothed) is at least `Balancing.spreadAbove`, or the
    /// run under way has lasted a tick (ticks fire between runs, so the
    /// figure lags behind a run of slow turns).
    package var staysBusy: Bool {
        if figures.load.load(ordering: .relaxed) >= perMille(balancing.spreadAbove) { return true }
        let started = balance.runStartedAt
        return started != 0 && monotonicNanoseconds() &- started >= balancing.tick.nanoseconds
    }
}

extension NodeCore {
    /// An active (not parked) scheduler, the schedulers taking turns; nil if all are parked.
    package func activeTarget(among peers: [PeerScheduler]) -> Scheduler? {
        let candidate = spreadTarget(among: peers)
        return candidate.parked.load(ordering: .relaxed) ? nil : candidate
    }
}
