import Synchronization

/// Keeps moves of durable processes and checkpoint rounds apart.
///
/// A round asks each scheduler to snapshot the durable processes it hosts
/// after taking in all mail committed through the round's cut; a process
/// in the middle of a move is in no scheduler's table and its mail may
/// still be on its way through the old one, and a process moving from a
/// scheduler that has not yet done its part to one that has would be in
/// no snapshot of the round. So a round begins only when no durable
/// process is moving, and no durable process starts a move from the
/// round's beginning until every scheduler has done its part (it stays
/// where it is; the balancer asks again later). A round that finds moves
/// under way waits for the last of them to end, which starts it.
///
/// Thread-safe: one lock; moves and rounds are rare next to messages.
package final class DurableMoveGate: Sendable {
    private struct State {
        var moving = 0
        var roundsOpen = 0
        var waitingRounds: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    package init() {}

    /// A durable process may start its move now (true), or must stay (a round is under way or waiting).
    package func beginMove() -> Bool {
        state.withLock { state in
            guard state.roundsOpen == 0, state.waitingRounds.isEmpty else { return false }
            state.moving += 1
            return true
        }
    }

    /// A durable process's move has ended; the last one to end starts the rounds that waited.
    package func endMove() {
        let start: [@Sendable () -> Void] = state.withLock { state in
            state.moving -= 1
            guard state.moving == 0, !state.waitingRounds.isEmpty else { return [] }
            let waiting = state.waitingRounds
            state.waitingRounds = []
            state.roundsOpen += waiting.count
            return waiting
        }
        for round in start { round() }
    }

    /// Runs `round` now if no durable process is moving, else once the last move ends.
    /// The round must call `endRound()` once every scheduler has done its part.
    package func beginRound(_ round: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLock { state in
            guard state.moving == 0 else {
                state.waitingRounds.append(round)
                return false
            }
            state.roundsOpen += 1
            return true
        }
        if now { round() }
    }

    /// Every scheduler has done its part of a round: moves may start again (once no round is open).
    package func endRound() {
        state.withLock { $0.roundsOpen -= 1 }
    }
}
