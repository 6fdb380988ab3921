import CalfStore
import CalfControl
import CalfRuntime

/// Reads the journal of a data directory without a node (`calf journal`,
/// read-only: beside a running node too, as LMDB readers do not block its
/// writer).
public enum OfflineJournal {
    /// The records of `target` (a registered name or a printed pid; nil: of
    /// every process) at or after `from`, at most `limit`, messages as JSON
    /// where `behaviors` names the recipient's behavior.
    /// - Throws: `StoreError` (no journal there), `DurableError.noSuchProcess`.
    public static func entries(
        dataDirectory: String, of target: String? = nil, from: UInt64 = 0, limit: Int = 100,
        behaviors: [any DurableBehavior.Type]
    ) throws -> [JournalEntry] {
        let environment = try StoreEnvironment(path: dataDirectory, readOnly: true)
        defer { environment.close() }
        let journal = try Journal(environment: environment)
        var only: UInt64?
        if let target {
            if let pid = Pid(parsing: target) {
                only = pid.serial
            } else {
                let names = journal.names
                only = try environment.read { txn in try txn.get(names, key: StoreKey(target)).flatMap { StoreKey.uint64(in: $0) } }
                guard only != nil else { throw DurableError.noSuchProcess(target) }
            }
        }
        var registry: [String: any DurableBehavior.Type] = [:]
        for type in behaviors { registry[type.behaviorName] = type }
        // Each process's behavior, from its spawn record (in the scan) or its snapshot.
        var behaviorOf: [UInt64: String] = [:]
        let checkpoints = journal.checkpoints
        func behavior(of pid: UInt64) -> String? {
            if let known = behaviorOf[pid] { return known }
            let found = try? environment.read { txn -> String? in
                guard let value = try journal.checkedValue(txn, checkpoints, key: StoreKey(pid)), value.count > 8 else { return nil }
                return try? CheckpointBody(decoding: UnsafeRawBufferPointer(rebasing: value[8...]), pid: pid).behavior
            }
            behaviorOf[pid] = found ?? ""
            return found
        }
        if from > 1 {
            // The spawn records before `from` name the behaviors of processes without a snapshot.
            try journal.scan(from: 1) { seq, result in
                guard seq < from else { return false }
                if case .success(.lifecycle(let owner, .spawned, let detail)) = result, let spawn = try? SpawnDetail(decoding: detail, pid: owner) {
                    behaviorOf[owner] = spawn.behavior
                }
                return true
            }
        }
        var entries: [JournalEntry] = []
        try journal.scan(from: from) { seq, result in
            let record: LogRecord
            switch result {
            case .success(let read):
                record = read
            case .failure(let error):
                if only == nil || error.pid == only || error.pid == nil { entries.append(JournalEntry(seq: seq, corrupt: error)) }
                return entries.count < limit
            }
            if case .lifecycle(let owner, .spawned, let detail) = record, let spawn = try? SpawnDetail(decoding: detail, pid: owner) {
                behaviorOf[owner] = spawn.behavior
            }
            guard only == nil || record.pid == only else { return true }
            var entry = JournalEntry(seq: seq, record: record, pid: Pid(serial: record.pid).description)
            if case .accepted(let accepted) = record, let type = behavior(of: accepted.to).flatMap({ registry[$0] }) {
                entry.message = messageJSON(type, accepted.payload)
            }
            entries.append(entry)
            return entries.count < limit
        }
        return entries
    }

    /// A journaled message of behavior `B` as JSON (nil if it does not decode without a node).
    package static func messageJSON<B: DurableBehavior>(_: B.Type, _ payload: [UInt8]) -> JSONValue? {
        DurableJSON.journaledMessage(JournalCodec<B.Message>(), payload)
    }
}
