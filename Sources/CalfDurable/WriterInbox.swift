import CalfControl
import CalfRuntime

/// Everything waiting for the journal's writer, behind one lock: the
/// batches schedulers and node operations submit, and the messages from
/// outside, whose records are written straight into `ingressBytes` (no
/// batch object or array per message). The writer takes it all at once.
package struct WriterInbox {
    /// Batches in the order they came.
    package var batches: [CommitBatch] = []
    /// Messages from outside in the order they came.
    package var ingress: [Ingress] = []
    /// Their records, one after another (`Ingress.record` ranges).
    package var ingressBytes: [UInt8] = []
    /// Monotonic time the first of them came (commit latency is measured from it).
    package var ingressSince: UInt64?

    /// Nothing waits.
    package var isEmpty: Bool { batches.isEmpty && ingress.isEmpty }

    /// Takes everything, leaving the storage's capacity for what comes next.
    package mutating func take() -> WriterInbox {
        var taken = WriterInbox()
        swap(&taken, &self)
        batches.reserveCapacity(taken.batches.count)
        ingress.reserveCapacity(taken.ingress.count)
        ingressBytes.reserveCapacity(taken.ingressBytes.count)
        return taken
    }
}
