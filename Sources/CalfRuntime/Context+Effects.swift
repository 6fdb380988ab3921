import CalfControl

/// An effect a process started: what cancels it.
public struct EffectRef: Hashable, Sendable, Codable {
    /// The effect's number within its process.
    public let id: UInt64

    /// The effect numbered `id`.
    public init(id: UInt64) { self.id = id }
}

extension Context {
    /// Runs `work` off the scheduler (on Swift's concurrency pool), retried
    /// by `retry`, and sends this process the message `then` makes of its
    /// outcome. The effect is cancelled if the process exits first (its
    /// outcome is then dropped), or by `cancel(_:)`.
    ///
    /// A transient process's effect lasts as long as the process: a restart
    /// of the node forgets it. A durable process asks for effects that
    /// outlive restarts with `DurableContext.perform`.
    ///
    /// ```swift
    /// context.run { _ in try await fetchQuote(symbol) } then: { .quoted($0) }
    /// ```
    /// - Returns: the effect, or nil when the process has already exited.
    @discardableResult
    public func run<Value: Sendable>(
        retry: RetryPolicy = .never,
        _ work: @escaping @Sendable (EffectAttempt) async throws -> Value,
        then transform: @escaping @Sendable (Result<Value, EffectFailure>) -> Message
    ) -> EffectRef? {
        let relations = cell.relationsForUpdate
        let effects = relations.effects ?? TransientEffects()
        relations.effects = effects
        let me = Address(cell: cell)
        let key = "calf-\(cell.pid.serial)-\(UInt64.random(in: .min ... .max).hexDigits)"
        let startedAt = WallTime.now
        let id = effects.start { id in
            let outcome = await EffectRetries.run(policy: retry, key: key, startedAt: startedAt, work)
            // Not cancelled meanwhile (nor the process gone): its outcome goes to it.
            guard effects.ended(id) else { return }
            me.cell.deliverRemote(.message(transform(outcome.result)))
        }
        return id.map(EffectRef.init(id:))
    }

    /// Cancels an effect of this process started by `run`: its outcome,
    /// should it still come, is dropped.
    public func cancel(_ effect: EffectRef) {
        cell.relations?.effects?.cancel(effect.id)
    }

    /// How many effects of this process are under way.
    public var effectsUnderWay: Int { cell.relations?.effects?.count ?? 0 }
}

extension UInt64 {
    /// Sixteen lowercase hex digits.
    package var hexDigits: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
