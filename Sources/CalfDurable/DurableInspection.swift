import CalfControl
import CalfRuntime

/// What the operator asks of a durable process besides what it asks of any
/// (`InspectableProcess`): its state, now or at a log position, its journaled
/// messages as JSON, taking JSON in through the journal. `DurableCellBase`
/// conforms; the operator finds it by a cast, so nothing of it is on a
/// transient process.
package protocol InspectableDurableProcess: InspectableProcess {
    /// The state as JSON (loop thread).
    func stateJSON() throws -> [UInt8]
    /// Its state as of log position `seq`, rebuilt by replay without touching it.
    func stateJSON(at seq: UInt64) throws -> [UInt8]
    /// Journals a message given as JSON (any thread).
    func ingressJSON(_ json: [UInt8], key: String?, slot: ReplySlot?, ack: @escaping @Sendable (IngressResult) -> Void)
    /// A journaled message of this process (its binary payload) as JSON (loop thread).
    func journaledMessageJSON(_ payload: [UInt8]) -> JSONValue?
    /// Takes a journaled message (its binary payload) in again from outside (any thread).
    func reingest(_ payload: [UInt8], key: String?, ack: @escaping @Sendable (IngressResult) -> Void)
}

extension DurableCellBase: InspectableDurableProcess {}
