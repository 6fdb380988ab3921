import CalfStore
import CalfControl
import CalfRuntime

extension DurableContext where Message: EffectCompletionMessage {
    /// Asks for `effect`, run once this handler's outcome is committed
    /// (its request journaled with it), retried by `retry` (else the
    /// effect's own `retryPolicy`); its outcome comes back to this process
    /// as the journaled message `Message.effectCompleted(_:)`, once. In
    /// replay nothing runs: the recorded completion is read instead.
    ///
    /// An effect under way survives restarts of the process and of the
    /// node (it runs again with the same `EffectAttempt.key`); it ends with
    /// its completion, `cancelEffect`, or the process's exit for good.
    /// - Throws: `DurableError.unknownEffect` for a type the node does not
    ///   know (`DurableBehavior.effects`), `.tooManyEffects` past 255 in one
    ///   handling, `.unencodable` if the effect does not encode.
    @discardableResult
    public mutating func perform<E: DurableEffect>(_ effect: E, retry: RetryPolicy? = nil) throws -> EffectRef {
        guard effectCount < 255 else { throw DurableError.tooManyEffects(cell.pid) }
        effectCount &+= 1
        let core = cell.durable
        guard let name = core.effectNames[ObjectIdentifier(E.self)] else { throw DurableError.unknownEffect(E.effectName) }
        let id = seq << 8 | UInt64(effectCount)
        let payload: [UInt8]
        do {
            payload = try core.effectCodec(E.self).encode(effect)
        } catch {
            throw DurableError.unencodable("cannot encode the effect \(name): \(error)")
        }
        digest.add(byte: 9)
        digest.add(id)
        digest.add(bytes: payload)
        let ref = EffectRef(id: id)
        guard let batch else { return ref }
        let cell = self.cell
        let record = EffectRecord(id: id, startedAt: now.nanosecondsSinceEpoch, name: name,
                                  key: core.effectKey(pid: cell.pid, id: id), policy: retry ?? effect.retryPolicy, payload: payload)
        batch.entries.append(.record(LogRecord.lifecycle(pid: cell.pid.serial, event: .effectStarted, detail: record.encoded()).encoded(), deliver: nil))
        // Started on its scheduler, marked changed there (the next round's
        // snapshot lists it), and kept there until it has.
        cell.timerReleasesAwaited += 1
        batch.entries.append(.releaseOn(cell.scheduler) {
            cell.timerReleasesAwaited -= 1
            cell.dirty = true
            core.effects.start(effect, record: record, pid: cell.pid.serial, for: cell)
        })
        return ref
    }

    /// Cancels an effect of this process, once this outcome is committed:
    /// its task is cancelled and its completion, should one still be on its
    /// way, may arrive all the same (a handler takes a completion of an
    /// effect it cancelled as stale).
    public mutating func cancelEffect(_ effect: EffectRef) {
        digest.add(byte: 10)
        digest.add(effect.id)
        guard let batch else { return }
        let pid = cell.pid.serial
        let effects = cell.durable.effects
        var detail = ByteWriter()
        detail.varint(effect.id)
        batch.entries.append(.record(LogRecord.lifecycle(pid: pid, event: .effectFinished, detail: detail.bytes).encoded(), deliver: nil))
        batch.entries.append(.release { effects.ended(pid, effect.id) })
    }
}
