import Synchronization

/// The node's journal: one global append-only log keyed by a global seq
/// (big-endian, written with `MDB_APPEND`), plus the databases derived from
/// it at checkpoints (DESIGN.md, storage layout): `checkpoints`, `names`,
/// `timers`, `dead`, `meta`, `keys` (idempotency keys still within
/// their retention window, written at checkpoints), and `ledgers` (small
/// records the layer above keeps by keys of its own, written in the same
/// commits as the log).
///
/// ```swift
/// let journal = try Journal(environment: store)
/// let seqs = try journal.append([.accepted(.init(to: 7, acceptedAt: now, payload: bytes))])
/// try journal.scan(from: 1) { seq, record in ...; return true }
/// ```
///
/// Thread ownership: appends are serialized by LMDB's single writer and by
/// `nextSeq`'s lock; reads run on any thread.
public final class Journal: Sendable {
    /// The environment the journal lives in.
    public let environment: StoreEnvironment
    /// The global log.
    public let log: Database
    /// Snapshots by pid.
    public let checkpoints: Database
    /// Registered names → pid.
    public let names: Database
    /// Durable timers by due time ‖ pid ‖ timer id.
    public let timers: Database
    /// Dead letters by pid ‖ seq.
    public let dead: Database
    /// Node id, format version, last checkpoint position.
    public let meta: Database
    /// Idempotency keys → seq ‖ accepted-at, written at checkpoints.
    public let keys: Database
    /// Small records kept by the layer above under keys of its own (durable
    /// supervisors' child lists), written in the same commits as the log.
    public let ledgers: Database
    /// The seq the next appended record gets.
    private let nextSeq: Mutex<UInt64>

    /// Opens (creating if needed) the journal's databases and finds the end of the log.
    public init(environment: StoreEnvironment) throws(StoreError) {
        self.environment = environment
        let create = !environment.isReadOnly
        log = try environment.database("log", create: create)
        checkpoints = try environment.database("checkpoints", create: create)
        names = try environment.database("names", create: create)
        timers = try environment.database("timers", create: create)
        dead = try environment.database("dead", create: create)
        meta = try environment.database("meta", create: create)
        keys = try environment.database("keys", create: create)
        ledgers = try environment.database("ledgers", create: create)
        let log = self.log
        let last: UInt64
        do {
            last = try environment.read { txn in
                try txn.withCursor(log) { cursor in try cursor.last().flatMap { StoreKey.uint64(in: $0.key) } ?? 0 }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            // invariant: the body above throws only StoreError.
            throw StoreError(code: -1, operation: "finding the end of the log: \(error)")
        }
        nextSeq = Mutex(last + 1)
    }

    /// The seq of the last record appended (0 when the log is empty).
    public var lastSeq: UInt64 { nextSeq.withLock { $0 } - 1 }

    /// Appends `records` in one write transaction (one group commit), and
    /// runs `alsoWrite` (given the seq of the first record) in the same
    /// transaction. Returns their seqs.
    @discardableResult
    public func append(_ records: [LogRecord], alsoWrite: (Transaction, UInt64) throws -> Void = { _, _ in }) throws -> ClosedRange<UInt64> {
        let encoded = records.map { $0.encoded() }
        return try append(encoded: encoded, alsoWrite: alsoWrite)
    }

    /// Appends records already encoded with `LogRecord.encoded()`. With no
    /// records, `alsoWrite` still runs and the range returned is empty at the
    /// next seq (`next...next-1` is not representable, so `next...next` with
    /// nothing written there: check `encoded.isEmpty`).
    @discardableResult
    public func append(encoded: [[UInt8]], alsoWrite: (Transaction, UInt64) throws -> Void = { _, _ in }) throws -> ClosedRange<UInt64> {
        var packed: [UInt8] = []
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(encoded.count)
        for record in encoded {
            ranges.append(packed.count..<(packed.count + record.count))
            packed.append(contentsOf: record)
        }
        return try append(packed: packed, ranges: ranges, alsoWrite: alsoWrite)
    }

    /// Appends the records at `ranges` of `packed` (each encoded as by
    /// `LogRecord.encode(into:)`), in that order, in one write transaction.
    @discardableResult
    public func append(packed: [UInt8], ranges: [Range<Int>], alsoWrite: (Transaction, UInt64) throws -> Void = { _, _ in }) throws -> ClosedRange<UInt64> {
        try nextSeq.withLock { next in
            let first = next
            let log = self.log
            try environment.write { txn in
                // Re-run from `first` if the map grew and the body runs again.
                var seq = first
                try packed.withUnsafeBytes { all in
                    for range in ranges {
                        try withUnsafeBytes(of: seq.bigEndian) { key in
                            try txn.put(log, key: key, value: UnsafeRawBufferPointer(rebasing: all[range]), append: true)
                        }
                        seq += 1
                    }
                }
                try alsoWrite(txn, first)
            }
            next = first + UInt64(ranges.count)
            return first...max(first, next - 1)
        }
    }

    /// Calls `body` with every record from `seq` on, in order, until it
    /// returns false. A record that cannot be read is passed as a failure
    /// and the scan goes on.
    public func scan(from seq: UInt64, _ body: (UInt64, Result<LogRecord, LogRecordError>) throws -> Bool) throws {
        try scanStored(from: seq) { at, value in
            guard let at else {
                return try body(0, .failure(.malformedKey(value.count)))
            }
            let record: Result<LogRecord, LogRecordError>
            do throws(LogRecordError) {
                record = .success(try LogRecord(decoding: value, seq: at))
            } catch {
                record = .failure(error)
            }
            return try body(at, record)
        }
    }

    /// Visits the stored bytes of each record from `seq` on, in seq order,
    /// while `body` returns true: for a reader that decodes only what it
    /// needs (`LogRecord.acceptedFields`). The bytes are valid only during
    /// the call. A seq is nil for a malformed key (the bytes are then the key's).
    public func scanStored(from seq: UInt64, _ body: (UInt64?, UnsafeRawBufferPointer) throws -> Bool) throws {
        let log = self.log
        try environment.read { txn in
            try txn.withCursor(log) { cursor in
                var entry = try cursor.seek(atLeast: StoreKey(seq))
                while let (key, value) = entry {
                    let at = key.count == 8 ? StoreKey.uint64(in: key) : nil
                    guard try body(at, at == nil ? key : value) else { return }
                    entry = try cursor.next()
                }
            }
        }
    }

    /// The record at `seq`, or nil if there is none (dropped or never written).
    public func record(at seq: UInt64) throws -> LogRecord? {
        let log = self.log
        return try environment.read { txn in
            guard let value = try txn.get(log, key: StoreKey(seq)) else { return nil }
            return try LogRecord(decoding: value, seq: seq)
        }
    }

    /// The records at `seqs`, read in one transaction (nil where there is none).
    public func records(at seqs: [UInt64]) throws -> [LogRecord?] {
        let log = self.log
        return try environment.read { txn in
            try seqs.map { seq in
                guard let value = try txn.get(log, key: StoreKey(seq)) else { return nil }
                return try LogRecord(decoding: value, seq: seq)
            }
        }
    }

    /// Calls `body` with the stored bytes of the record at `seq` (nil if
    /// there is none), inside a read transaction: the bytes are valid only
    /// during the call.
    public func withRecordBytes<T>(at seq: UInt64, _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        let log = self.log
        return try environment.read { txn in try body(try txn.get(log, key: StoreKey(seq))) }
    }

    /// Drops log records with a seq below `seq` (history outside the window);
    /// returns how many were dropped. The last record always stays: the end
    /// of the log is where seqs continue after a restart, and a seq is never
    /// given twice.
    @discardableResult
    public func dropRecords(before seq: UInt64) throws -> Int {
        let log = self.log
        return try environment.write { txn in
            try txn.withCursor(log) { cursor in
                guard let (lastKey, _) = try cursor.last(), let last = StoreKey.uint64(in: lastKey) else { return 0 }
                let bound = min(seq, last)
                var dropped = 0
                var entry = try cursor.first()
                while let (key, _) = entry, let at = StoreKey.uint64(in: key), at < bound {
                    try cursor.deleteCurrent()
                    dropped += 1
                    entry = try cursor.seek(atLeast: StoreKey(at + 1))
                }
                return dropped
            }
        }
    }
}
