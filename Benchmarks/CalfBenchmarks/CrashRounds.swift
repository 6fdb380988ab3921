import Calf

/// The bookkeeping of a crash-and-restart benchmark driver: rounds left,
/// when the current crash happened, the latencies so far.
///
/// Thread ownership: the driver process's state, on its scheduler thread.
final class CrashRounds {
    private var remaining = 0
    private var crashedAt: UInt64 = 0
    private var latencies: [UInt64] = []
    private var done: Address<[UInt64]>?

    /// Whether a crash is under way (its restarted child is awaited).
    var crashing: Bool { crashedAt != 0 }

    func start(rounds: Int, done: Address<[UInt64]>) {
        remaining = rounds
        self.done = done
        latencies.reserveCapacity(rounds)
    }

    /// Starts the clock of a round.
    func crashNow() { crashedAt = RestartBench.nanoseconds() }

    /// Stops the clock: true if another round follows; after the last one
    /// the latencies go to `done`.
    func answered<M>(_ context: inout Context<M>) -> Bool {
        latencies.append(RestartBench.nanoseconds() - crashedAt)
        remaining -= 1
        if remaining > 0 { return true }
        if let done { context.send(latencies, to: done) }
        return false
    }
}
