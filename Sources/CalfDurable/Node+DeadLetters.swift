import CalfStore
import CalfControl
import CalfRuntime

extension Node {
    /// The dead letters (poison messages set aside after `maximumFailures`),
    /// of `target` only if given (a name or a pid).
    /// - Throws: `DurableError` (not a durable node, unknown target), `StoreError`.
    public func deadLetterReports(of target: String? = nil) async throws -> [DeadLetterReport] {
        let durable = try requireDurable()
        var only: Pid?
        if let target {
            guard let pid = pid(of: target) else { throw DurableError.noSuchProcess(target) }
            only = pid
        }
        var reports: [DeadLetterReport] = []
        for record in try durable.deadLetterRecords() where only == nil || record.pid == only {
            let cell = durable.inspectable(record.pid)
            let described: (name: String?, json: JSONValue?)
            if let cell {
                described = await onOwner(of: cell) { _ in (cell.relations?.name, cell.journaledMessageJSON(record.payload)) }
            } else {
                described = (nil, nil)
            }
            reports.append(DeadLetterReport(
                id: record.seq, pid: record.pid.description, name: described.name,
                acceptedAt: record.acceptedAt.nanosecondsSinceEpoch, failures: record.failures, error: record.error,
                message: described.json))
        }
        return reports
    }

    /// Sends dead letter `id` to its process again, as a new message (at
    /// most once: its idempotency key is `dead-ID`), and drops it from the
    /// dead letters once that is committed.
    public func retryDeadLetter(_ id: UInt64) async -> IngressResult {
        let durable: DurableCore
        do throws(DurableError) {
            durable = try requireDurable()
        } catch {
            return .failed(IngressRefusal(error))
        }
        let records: [DeadLetterRecord]
        do {
            records = try durable.deadLetterRecords()
        } catch {
            return .failed(.storeFailed("cannot read the dead letters: \(error)"))
        }
        guard let record = records.first(where: { $0.seq == id }) else { return .failed(.noDeadLetter(id)) }
        guard let cell = durable.inspectable(record.pid) else { return .failed(.noProcess("\(record.pid) (the process of dead letter \(id))")) }
        let result = await withCheckedContinuation { continuation in
            cell.reingest(record.payload, key: "dead-\(id)") { continuation.resume(returning: $0) }
        }
        switch result {
        case .accepted, .duplicate:
            // Dropped by the writer, in a group commit like every other write.
            let dead = durable.journal.dead
            let key = StoreKey(record.pid.serial, record.seq)
            let failure: String? = await withCheckedContinuation { continuation in
                let batch = CommitBatch()
                batch.entries.append(.write { txn in _ = try txn.delete(dead, key: key) })
                batch.entries.append(.outcome { continuation.resume(returning: $0) })
                durable.submit(batch)
            }
            if let failure { return .failed(.storeFailed("retried, but the dead letter stays: \(failure)")) }
        case .failed:
            break
        }
        return result
    }
}
