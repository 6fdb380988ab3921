import CalfControl

/// Exponential delays between restarts of one child that keeps crashing:
/// the n-th quick crash in a row waits `initial × multiplier^(n-1)`, at most
/// `maximum`. A child that ran for `resetAfter` before crashing starts over.
public struct Backoff: Sendable, Equatable {
    /// The delay before the first restart of a crash series.
    public var initial: Duration
    /// The longest delay.
    public var maximum: Duration
    /// The growth factor from one delay to the next.
    public var multiplier: Double
    /// A child that ran at least this long before crashing starts a new series.
    public var resetAfter: Duration

    /// Makes a backoff; `resetAfter` defaults to twice `maximum`.
    public init(initial: Duration, maximum: Duration, multiplier: Double = 2, resetAfter: Duration? = nil) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.multiplier = max(1, multiplier)
        self.resetAfter = resetAfter ?? self.maximum * 2
    }

    /// The delay before restart number `attempt` (1-based) of a series.
    /// Whatever the fields hold (they are public), it never traps: a
    /// negative delay counts as zero, a multiplier of 1 or less (or NaN)
    /// keeps the delay at `initial`, and the growth stops at `maximum`
    /// (computed in seconds, so a huge or infinite factor cannot overflow).
    public func delay(attempt: Int) -> Duration {
        let cap = max(initial, maximum)
        guard initial > .zero else { return .zero }
        guard multiplier > 1 else { return initial }
        var delay = initial
        var step = 1
        while step < attempt, delay < cap {
            let next = delay.seconds * multiplier
            guard next.isFinite, next < cap.seconds else { return cap }
            delay = .seconds(next)
            step += 1
        }
        return min(delay, cap)
    }

    /// Why this backoff cannot be used, or nil.
    package var problem: String? {
        if initial < .zero { return "its backoff's initial delay \(initial) is negative" }
        if maximum < .zero { return "its backoff's maximum delay \(maximum) is negative" }
        if resetAfter < .zero { return "its backoff's resetAfter \(resetAfter) is negative" }
        if !multiplier.isFinite || multiplier < 1 { return "its backoff's multiplier must be a finite number of at least 1, not \(multiplier)" }
        return nil
    }
}
