import Synchronization
import CalfControl
import CalfRuntime
import CalfDurable

/// Stops the children a supervisor left running when it ended without
/// stopping them itself: killed (`kill P`), stopped by `Node.stop`, or
/// failing to start half-way. OTP's supervisor stops its children in
/// `terminate/2` whatever ends it, synchronously; a Calf supervisor that is
/// killed runs no callback, and one that is stopped cannot wait inside its
/// `terminate`, so it hands its children to this small process, which does
/// what the supervisor's own orderly stop does: its static children one
/// wave each in reverse start order, its dynamic children in one wave, each
/// wave within its shutdown time, then killed. It ends when every child is
/// gone; should it be ended itself (node shutdown), it kills what is left.
///
/// The supervisor's exit reaches its links and monitors (its own
/// supervisor, say) only then, as from a supervisor that stopped its
/// children itself: a parent that restarts it does not race its old
/// children for their names. `Node.startSupervisor` waits for every reaper
/// to finish before it reports a failed start, so no child of the failed
/// tree is left running.
package struct ChildReaper: Behavior {
    /// A wave's time is up.
    package struct Message: Sendable { let wave: UInt64 }

    /// The exit of the supervisor, held back until its children are gone.
    package struct HeldExit: Sendable {
        package let supervisor: ProcessCell
        package let reason: ExitReason
        package let links: [ProcessCell]
        package let watchers: [(MonitorRef, ProcessCell)]
        /// Runs after them (a root supervisor tells the node).
        package let afterwards: (@Sendable (ExitReason) -> Void)?
    }

    /// The supervisor whose children these are (the sender of their `shutdown` signals).
    package let supervisor: Pid
    /// The waves, in the order they are stopped.
    package let waves: [[StopWave.Member]]
    /// Told once every child is gone.
    package let heldExit: HeldExit?

    /// Thread ownership: the reaper's scheduler thread, as its state.
    package final class State {
        package var next = 0
        package var wave = StopWave()
        package var waveNumber: UInt64 = 0
        package var stale: Set<MonitorRef> = []
    }

    package func initialState() -> State { State() }

    package func started(state: inout State, context: inout Context<Message>) throws {
        // Its kill timer and waves refer to the scheduler it started on.
        context.cell.pinned = true
        let reaping = context.cell.scheduler.node.supervision.reaping
        reaping.began()
        let waves = self.waves
        let state = state
        let scheduler = context.cell.scheduler
        let held = heldExit
        // However it ends, what it still holds is killed, the supervisor's
        // exit goes out, and the node hears it is done.
        context.cell.relationsForUpdate.exitHook = { _, _ in
            state.wave.killRemaining(on: scheduler)
            for wave in waves.dropFirst(state.next) {
                for member in wave { scheduler.kill(member.cell) }
            }
            if let held {
                scheduler.tellExit(of: held.supervisor, reason: held.reason, links: held.links, watchers: held.watchers)
                held.afterwards?(held.reason)
            }
            reaping.ended()
        }
        advance(state, &context)
    }

    package func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        if message.wave == state.waveNumber { state.wave.killRemaining(on: context.cell.scheduler) }
    }

    package func handle(signal: Signal, state: inout State, context: inout Context<Message>) throws {
        guard case .down(let ref, _, _) = signal else { return }
        if state.stale.remove(ref) != nil { return }
        guard state.wave.down(ref), state.wave.isDone else { return }
        if let timer = state.wave.killTimer { context.cancelTimer(timer) }
        advance(state, &context)
    }

    /// Starts waves until one has to be waited for; stops when all are done.
    private func advance(_ state: State, _ context: inout Context<Message>) {
        while state.wave.isDone {
            guard state.next < waves.count else {
                context.stop(.normal)
                return
            }
            let begun = StopWave.begin(waves[state.next], from: supervisor, watcher: context.cell, stale: &state.stale)
            state.next += 1
            state.waveNumber += 1
            state.wave = begun.wave
            if !begun.wave.isDone, let limit = begun.killAfter {
                state.wave.killTimer = context.sendAfter(Message(wave: state.waveNumber), after: limit)
            }
        }
    }
}

/// How many child reapers are at work on a node, and who waits for none
/// to be (any thread).
package final class ReaperCount: Sendable {
    private struct Counts {
        var running = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let counts = Mutex(Counts())

    package func began() { counts.withLock { $0.running += 1 } }

    package func ended() {
        let waiters = counts.withLock { counts -> [CheckedContinuation<Void, Never>] in
            counts.running -= 1
            guard counts.running == 0 else { return [] }
            defer { counts.waiters.removeAll() }
            return counts.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no reaper is at work.
    package func idle() async {
        await withCheckedContinuation { continuation in
            let now = counts.withLock { counts -> Bool in
                if counts.running == 0 { return true }
                counts.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
