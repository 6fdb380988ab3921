import CalfStore
import CalfControl
import CalfRuntime

extension JournalEntry {
    /// The entry of `record` at `seq` (an accepted message without its JSON yet).
    package init(seq: UInt64, record: LogRecord, pid: String? = nil) {
        switch record {
        case .accepted(let accepted):
            self.init(seq: seq, pid: pid, kind: "accepted", acceptedAt: accepted.acceptedAt, key: accepted.key)
        case .progress(_, let handled):
            self.init(seq: seq, pid: pid, kind: "handled", handled: handled.map(\.seq))
        case .lifecycle(_, .restarted, let detail):
            self.init(seq: seq, pid: pid, kind: "restarted", reason: String(decoding: detail, as: UTF8.self))
        case .lifecycle(_, let event, _):
            self.init(seq: seq, pid: pid, kind: String(describing: event))
        }
    }

    /// The entry of a record that cannot be read: kind `corrupt`, with why.
    package init(seq: UInt64, corrupt error: LogRecordError) {
        self.init(seq: seq, pid: error.pid.map { Pid(serial: $0).description }, kind: "corrupt", error: error.reason)
    }
}

extension Node {
    /// The history of durable process `target` (a name or a pid) still in the
    /// journal: records at or after `from`, at most `limit` of them.
    /// - Throws: `DurableError` (not a durable node, unknown target), `StoreError`.
    public func journalEntries(of target: String, from: UInt64 = 0, limit: Int = 100) async throws -> [JournalEntry] {
        let durable = try requireDurable()
        guard let pid = pid(of: target) else { throw DurableError.noSuchProcess(target) }
        var entries: [JournalEntry] = []
        var payloads: [(index: Int, payload: [UInt8])] = []
        try durable.journal.scan(from: from) { seq, result in
            let record: LogRecord
            switch result {
            case .success(let read):
                record = read
            case .failure(let error):
                // A record of its own (as far as its bytes tell) that cannot be read is shown as such.
                if error.pid == pid.serial { entries.append(JournalEntry(seq: seq, corrupt: error)) }
                return entries.count < limit
            }
            guard record.pid == pid.serial else { return true }
            if case .accepted(let accepted) = record { payloads.append((entries.count, accepted.payload)) }
            entries.append(JournalEntry(seq: seq, record: record))
            return entries.count < limit
        }
        // A passivated process comes back to decode its messages (only its behavior knows their type).
        var inspectable = durable.inspectable(pid)
        if inspectable == nil, !payloads.isEmpty { inspectable = await durable.activeCell(pid) as? any InspectableDurableProcess }
        if let cell = inspectable, !payloads.isEmpty {
            let bytes = payloads.map(\.payload)
            let messages = await onOwner(of: cell) { _ in bytes.map { cell.journaledMessageJSON($0) } }
            for (slot, message) in zip(payloads, messages) { entries[slot.index].message = message }
        }
        return entries
    }
}
