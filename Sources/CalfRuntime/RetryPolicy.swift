import CalfControl

/// How an effect is retried: how many attempts, how long to wait between
/// them, how long the whole may take, and which failures are worth another
/// try. A value, journaled with the effect it governs, so an effect re-run
/// after a restart of the node keeps its policy.
///
/// The delay before attempt n+1 is `initialBackoff × multiplier^(n-1)`, at
/// most `maximumBackoff`, shortened by up to `jitter` of itself by a draw
/// that depends only on the effect's key and n (the same on every run, so
/// a replayed schedule is the same schedule), and lengthened to a
/// failure's own `retryAfter` when it names one (an HTTP `Retry-After`).
///
/// ```
/// attempt 1 ✗ ─ 1 s ─ attempt 2 ✗ ─── 2 s ─── attempt 3 ✗ ─────── 4 s ─────── attempt 4 ✓
/// |←──────────────────────────── at most maximumDuration ───────────────────────────→|
/// ```
///
/// Bounded by default (5 attempts, 10 minutes), unlike Temporal's and
/// Restate's unlimited default: exhaustion is a failure the handler sees.
public struct RetryPolicy: Codable, Sendable, Hashable {
    /// Attempts in all, the first included (at least 1).
    public var maximumAttempts: Int
    /// The wait after the first failed attempt.
    public var initialBackoff: Duration
    /// The growth of the wait from one failure to the next (at least 1).
    public var multiplier: Double
    /// The longest wait between two attempts.
    public var maximumBackoff: Duration
    /// The share of each wait (0 to 1) drawn off it at random (deterministically).
    public var jitter: Double
    /// How long one attempt may run before it counts as failed with `timeout`
    /// (nil: as long as it takes).
    public var attemptTimeout: Duration?
    /// How long all attempts together may take, from the effect's start
    /// (its journaled start, across restarts of the node).
    public var maximumDuration: Duration
    /// The failures retried (a failure that says it is terminal never is).
    public var retryOn: [RetryCondition]

    /// A policy; the defaults are the bounded default (`RetryPolicy.default`).
    public init(
        maximumAttempts: Int = 5, initialBackoff: Duration = .seconds(1), multiplier: Double = 2,
        maximumBackoff: Duration = .seconds(60), jitter: Double = 0.2, attemptTimeout: Duration? = nil,
        maximumDuration: Duration = .seconds(600), retryOn: [RetryCondition] = [.any]
    ) {
        self.maximumAttempts = max(1, maximumAttempts)
        self.initialBackoff = max(.zero, initialBackoff)
        self.multiplier = multiplier.isFinite ? max(1, multiplier) : 1
        self.maximumBackoff = max(self.initialBackoff, maximumBackoff)
        self.jitter = jitter.isFinite ? min(1, max(0, jitter)) : 0
        self.attemptTimeout = attemptTimeout.map { max(.milliseconds(1), $0) }
        self.maximumDuration = max(.zero, maximumDuration)
        self.retryOn = retryOn
    }

    /// Five attempts, 1 s doubling to at most 60 s, 20 % jitter, ten minutes in all, any failure retried.
    public static let `default` = RetryPolicy()

    /// One attempt, no retry.
    public static let never = RetryPolicy(maximumAttempts: 1)

    /// Whether `failure`, the outcome of attempt `attempt`, gets another try (time aside).
    public func retries(_ failure: EffectFailure, afterAttempt attempt: Int) -> Bool {
        guard attempt < maximumAttempts, !failure.terminal else { return false }
        return retryOn.contains { $0.matches(failure) }
    }

    /// The wait after failed attempt `attempt` (1-based) of the effect with
    /// `key`, before a failure's own `retryAfter` is taken into account.
    public func backoff(afterAttempt attempt: Int, key: String) -> Duration {
        let base = Backoff(initial: initialBackoff, maximum: maximumBackoff, multiplier: multiplier).delay(attempt: attempt)
        guard jitter > 0, base > .zero else { return base }
        let cut = base.seconds * jitter * Self.unitDraw(key: key, attempt: attempt)
        return .seconds(max(0, base.seconds - cut))
    }

    /// A number in [0, 1) that depends only on `key` and `attempt` (FNV-1a, then SplitMix64's finalizer).
    static func unitDraw(key: String, attempt: Int) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        var z = hash ^ (UInt64(truncatingIfNeeded: attempt) &* 0x9E37_79B9_7F4A_7C15)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(UInt64(1) << 53)
    }
}

/// A kind of failure a `RetryPolicy` retries.
public enum RetryCondition: Codable, Sendable, Hashable {
    /// Every failure that is not terminal.
    case any
    /// Failures of this kind (`EffectFailure.kind`: "timeout", "transport", "error", or an effect's own).
    case kind(String)
    /// Failures that carry a status in this range (an HTTP response: `.status(500...599)`).
    case status(ClosedRange<Int>)

    /// Whether `failure` is of this kind.
    public func matches(_ failure: EffectFailure) -> Bool {
        switch self {
        case .any: return true
        case .kind(let kind): return failure.kind == kind
        case .status(let range): return failure.status.map(range.contains) ?? false
        }
    }
}
