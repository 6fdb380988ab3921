import CalfControl

/// Runs an effect's attempts by its `RetryPolicy`: each attempt (bounded by
/// the policy's `attemptTimeout`), the wait after a failure that is retried,
/// and the end of it all (a result, or the last failure once the attempts,
/// the time or the retryable failures run out). Used by the effects of
/// transient and durable processes alike; runs on Swift's concurrency pool,
/// never on a scheduler's thread.
public enum EffectRetries {
    /// What came of an effect: its result or its failure, and the attempts made.
    public struct Outcome<Value: Sendable>: Sendable {
        /// The result, or the failure of the last attempt.
        public var result: Result<Value, EffectFailure>
        /// Attempts made (0 when its time was up before the first).
        public var attempts: Int
    }

    /// Runs `body` for the effect with `key`, started at `startedAt` (wall
    /// clock; the policy's `maximumDuration` counts from there), until it
    /// succeeds or its policy gives up. Cancelled, it ends at once with a
    /// failure of kind "cancelled".
    /// The effect's code must honor cancellation (an attempt past its
    /// timeout is cancelled, and its end awaited).
    public static func run<Value: Sendable>(
        policy: RetryPolicy, key: String, startedAt: WallTime, services: EffectServices = EffectServices(),
        progress: (@Sendable (EffectProgress) -> Void)? = nil,
        _ body: @escaping @Sendable (EffectAttempt) async throws -> Value
    ) async -> Outcome<Value> {
        let deadline = startedAt + policy.maximumDuration
        var attempt = 0
        while true {
            if Task.isCancelled { return Outcome(result: .failure(cancelled(attempts: attempt)), attempts: attempt) }
            if WallTime.now >= deadline {
                return Outcome(result: .failure(EffectFailure(kind: "deadline", message: "its \(policy.maximumDuration) were up before an attempt could start", terminal: true, attempts: attempt)), attempts: attempt)
            }
            attempt += 1
            let number = attempt
            // The first attempt's start is no news (an effect under way is on its first until told otherwise).
            if number > 1 { progress?(EffectProgress(attempts: number, lastFailure: nil, nextAttemptAt: nil)) }
            let failure: EffectFailure
            var retryAfter: Duration?
            do {
                let value = try await attemptBounded(by: policy.attemptTimeout) { try await body(EffectAttempt(key: key, number: number, services: services, deadline: deadline)) }
                return Outcome(result: .success(value), attempts: attempt)
            } catch {
                if Task.isCancelled { return Outcome(result: .failure(cancelled(attempts: attempt)), attempts: attempt) }
                failure = EffectFailure(error, attempts: attempt)
                retryAfter = (error as? any EffectError)?.retryAfter
            }
            guard policy.retries(failure, afterAttempt: attempt) else { return Outcome(result: .failure(failure), attempts: attempt) }
            var wait = policy.backoff(afterAttempt: attempt, key: key)
            if let retryAfter, retryAfter > wait { wait = retryAfter }
            if WallTime.now + wait >= deadline {
                var late = failure
                late.kind = "deadline"
                late.message = "gave up: the next attempt would start past its \(policy.maximumDuration); the last one failed with \(failure.kind): \(failure.message)"
                late.terminal = true
                return Outcome(result: .failure(late), attempts: attempt)
            }
            progress?(EffectProgress(attempts: attempt, lastFailure: failure, nextAttemptAt: WallTime.now + wait))
            do {
                try await Task.sleep(for: wait)
            } catch {
                return Outcome(result: .failure(cancelled(attempts: attempt)), attempts: attempt)
            }
        }
    }

    private static func cancelled(attempts: Int) -> EffectFailure {
        EffectFailure(kind: "cancelled", message: "the effect was cancelled", terminal: true, attempts: attempts)
    }

    /// Runs one attempt; past `timeout` it is cancelled and fails with kind "timeout".
    private static func attemptBounded<Value: Sendable>(
        by timeout: Duration?, _ body: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        guard let timeout else { return try await body() }
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            // The sleep's nil, or (never: two tasks were added) no result at all.
            guard let first = try await group.next(), let value = first else {
                throw EffectFailure(kind: "timeout", message: "the attempt ran past its \(timeout)")
            }
            return value
        }
    }
}
