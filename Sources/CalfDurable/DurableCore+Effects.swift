import CalfStore
import CalfLoop
import CalfControl
import CalfRuntime

/// A durable process that can be handed the completion of one of its effects.
package protocol EffectCompletionTaking: AnyObject, Sendable {
    /// Journals `completion` as a message to the process, with the effect's
    /// `effectFinished` record in the same commit; false if its messages
    /// cannot carry it (not an `EffectCompletionMessage`).
    func takeEffectCompletion(_ completion: EffectCompletion) -> Bool
}

extension DurableCore {
    /// The idempotency key of effect `id` of `pid`: the same on every
    /// attempt, after every restart and in replay; different for every
    /// effect of every data directory (the journal's identity is in it).
    package func effectKey(pid: Pid, id: UInt64) -> String {
        "calf-\(journal.identity)-\(pid.serial)-\(id)"
    }

    /// Journals `message`, which carries the completion of effect `id`, for
    /// `cell` from outside any durable process, with the effect's
    /// `effectFinished` record in the same commit (the runner takes one
    /// completion per effect: `EffectRunner.complete`). A node that stops
    /// meanwhile refuses it: the effect runs again after the start.
    package func ingressEffectCompletion<M: Codable & Sendable>(_ message: M, to cell: DurableCellBase<M>, id: UInt64) {
        guard !closed.load(ordering: .sequentiallyConsistent) else { return }
        let acceptedAt = cell.scheduler.node.wallNow.nanosecondsSinceEpoch
        let pid = cell.pid.serial
        // An effect that completed without suspending did so inside the
        // release that started it, on its process's scheduler: its completion
        // joins that scheduler's batch (one group commit for every effect
        // the release started); from anywhere else it is a batch of its own.
        let onItsScheduler = EventLoop.current === cell.scheduler.loop
        let batch = onItsScheduler ? cell.outcomesBatch : CommitBatch()
        do {
            let start = batch.bytes.count
            _ = try AcceptedRecord.append(to: pid, key: nil, acceptedAt: acceptedAt, into: &batch.bytes) { bytes in
                try cell.codec.encode(message, appendingTo: &bytes)
            }
            batch.entries.append(.ingress(Ingress(
                key: nil, acceptedAt: acceptedAt, record: start..<batch.bytes.count,
                deliver: CommittedMail(message, acceptedAt: acceptedAt, slot: nil, for: cell), ack: { _ in })))
        } catch {
            reportProblem("the completion of effect \(id) of \(cell.pid) does not encode: \(error)", level: .error)
            return
        }
        var detail = ByteWriter()
        detail.varint(id)
        batch.entries.append(.record(LogRecord.lifecycle(pid: pid, event: .effectFinished, detail: detail.bytes).encoded(), deliver: nil))
        let effects = self.effects
        batch.entries.append(.release { effects.ended(pid, id) })
        if !onItsScheduler { submit(batch) }
    }
}

extension DurableCellBase: EffectCompletionTaking {
    package final func takeEffectCompletion(_ completion: EffectCompletion) -> Bool {
        guard let type = Message.self as? any EffectCompletionMessage.Type,
              let message = type.effectCompleted(completion) as? Message else { return false }
        durable.ingressEffectCompletion(message, to: self, id: completion.effect.id)
        return true
    }
}
