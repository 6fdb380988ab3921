import Glibc
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
/// Every log record, snapshot and ledger record carries a CRC-32C of its
/// key and bytes (`Checksum`), checked on every read: a mismatch is an
/// error naming the record, never a silent wrong value. The `meta`
/// database says which data has them (`format`, `checksumsFrom`): a data
/// directory written before checksums opens as it is, its snapshots and
/// ledgers rewritten with checksums at the first read-write open, its log
/// records checksummed from the next seq on (old ones are read as they are).
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
    /// Log records from this seq on carry a checksum (`UInt64.max`: none do).
    public let checksumsFrom: UInt64
    /// Snapshots and ledger records carry a checksum.
    public let checksummedValues: Bool
    /// This journal's own name: 16 hex digits drawn at random when it was
    /// created (in `meta`), different for every data directory ("unnamed"
    /// for a read-only one from before identities). Effects' idempotency
    /// keys carry it, so that two nodes never hand a service the same key.
    public let identity: String
    /// 32 random bytes drawn when the journal was created (in `meta`,
    /// which only the data directory's owner can read): the key the layer
    /// above signs what it hands out with (callback tokens). All zeros for
    /// a read-only journal from before secrets.
    public let secret: [UInt8]

    /// The format this build writes: 2, checksums on log records, snapshots
    /// and ledgers. Format 1 (no `format` key in `meta`) had none.
    public static let format: UInt64 = 2
    static let formatKey = StoreKey("format")
    static let checksumsFromKey = StoreKey("checksumsFrom")
    static let identityKey = StoreKey("identity")
    static let secretKey = StoreKey("secret")

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
        (checksumsFrom, checksummedValues) = try Self.openFormat(environment, meta: meta, log: log, upgrading: [checkpoints, ledgers], next: last + 1)
        identity = try Self.openIdentity(environment, meta: meta)
        secret = try Self.openSecret(environment, meta: meta)
    }

    /// Reads the journal's secret; a journal opened read-write without one gets one.
    private static func openSecret(_ environment: StoreEnvironment, meta: Database) throws(StoreError) -> [UInt8] {
        do {
            if let stored = try environment.read({ txn in try txn.get(meta, key: secretKey).map { Array($0) } }), stored.count == 32 {
                return stored
            }
            guard !environment.isReadOnly else { return [UInt8](repeating: 0, count: 32) }
            var generator = SystemRandomNumberGenerator()
            let drawn = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            try environment.write { txn in try txn.put(meta, key: secretKey, value: drawn) }
            return drawn
        } catch let error as StoreError {
            throw error
        } catch {
            // invariant: the bodies above throw only StoreError.
            throw StoreError(code: -1, operation: "reading the journal's secret: \(error)")
        }
    }

    /// Reads the journal's identity; a journal opened read-write without one gets one.
    private static func openIdentity(_ environment: StoreEnvironment, meta: Database) throws(StoreError) -> String {
        do {
            if let stored = try environment.read({ txn in try txn.get(meta, key: identityKey).map { Array($0) } }) {
                return String(decoding: stored, as: UTF8.self)
            }
            guard !environment.isReadOnly else { return "unnamed" }
            let drawn = String(UInt64.random(in: .min ... .max), radix: 16)
            let identity = String(repeating: "0", count: 16 - drawn.count) + drawn
            try environment.write { txn in try txn.put(meta, key: identityKey, value: Array(identity.utf8)) }
            return identity
        } catch let error as StoreError {
            throw error
        } catch {
            // invariant: the bodies above throw only StoreError.
            throw StoreError(code: -1, operation: "reading the journal's identity: \(error)")
        }
    }

    /// Reads the data's format; a new data directory gets this build's, one
    /// of format 1 opened read-write is upgraded (its snapshots and ledger
    /// records rewritten with checksums, its log checksummed from `next` on).
    /// - Throws: `StoreError` for data of a format newer than this build reads.
    private static func openFormat(
        _ environment: StoreEnvironment, meta: Database, log: Database, upgrading values: [Database], next: UInt64
    ) throws(StoreError) -> (checksumsFrom: UInt64, checksummedValues: Bool) {
        do {
            let stored = try environment.read { txn in
                (format: try txn.get(meta, key: formatKey).flatMap { StoreKey.uint64(in: $0) },
                 from: try txn.get(meta, key: checksumsFromKey).flatMap { StoreKey.uint64(in: $0) })
            }
            switch stored.format {
            case .some(let format) where format > Self.format:
                throw StoreError(code: EPROTO, operation: "opening the journal: its data has format \(format), newer than this build reads (\(Self.format))")
            case .some:
                return (stored.from ?? 1, true)
            case .none where environment.isReadOnly:
                return (.max, false)
            case .none:
                try environment.write { txn in
                    for database in values { try rewriteWithChecksums(database, txn) }
                    try txn.put(meta, key: checksumsFromKey, value: StoreKey(next).bytes)
                    try txn.put(meta, key: formatKey, value: StoreKey(Self.format).bytes)
                }
                return (next, true)
            }
        } catch let error as StoreError {
            throw error
        } catch {
            // invariant: the bodies above throw only StoreError.
            throw StoreError(code: -1, operation: "reading the journal's format: \(error)")
        }
    }

    /// Appends a checksum to every value of `database` (format 1 → 2).
    private static func rewriteWithChecksums(_ database: Database, _ txn: Transaction) throws {
        var entries: [(StoreKey, [UInt8])] = []
        try txn.withCursor(database) { cursor in
            var entry = try cursor.first()
            while let (key, value) = entry {
                entries.append((StoreKey(bytes: Array(key)), Array(value)))
                entry = try cursor.next()
            }
        }
        for (key, value) in entries { try putChecked(txn, database, key: key, value: value) }
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
                let checksumsFrom = self.checksumsFrom
                try packed.withUnsafeBytes { all in
                    for range in ranges {
                        try Self.putRecord(UnsafeRawBufferPointer(rebasing: all[range]), at: seq, checksummed: seq >= checksumsFrom, append: true, log, txn)
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
        try scanStored(from: seq) { at, stored in
            let record: Result<LogRecord, LogRecordError>
            do throws(LogRecordError) {
                record = .success(try LogRecord(decoding: try stored.get(), seq: at))
            } catch {
                record = .failure(error)
            }
            return try body(at ?? 0, record)
        }
    }

    /// Visits the stored bytes of each record from `seq` on, in seq order,
    /// while `body` returns true: for a reader that decodes only what it
    /// needs (`LogRecord.acceptedFields`). The bytes, checked against their
    /// checksum and without it, are valid only during the call; a record
    /// whose checksum fails, or a malformed key (its seq nil), is passed as
    /// a failure naming the seq and the pid its bytes name.
    public func scanStored(from seq: UInt64, _ body: (UInt64?, Result<UnsafeRawBufferPointer, LogRecordError>) throws -> Bool) throws {
        let log = self.log
        try environment.read { txn in
            try txn.withCursor(log) { cursor in
                var entry = try cursor.seek(atLeast: StoreKey(seq))
                while let (key, value) = entry {
                    let at = key.count == 8 ? StoreKey.uint64(in: key) : nil
                    let stored: Result<UnsafeRawBufferPointer, LogRecordError>
                    if let at {
                        stored = verified(value, seq: at, key: key)
                    } else {
                        stored = .failure(.malformedKey(key.count))
                    }
                    guard try body(at, stored) else { return }
                    entry = try cursor.next()
                }
            }
        }
    }

    /// The record's bytes without their checksum, or why they cannot be trusted.
    private func verified(_ stored: UnsafeRawBufferPointer, seq: UInt64, key: UnsafeRawBufferPointer) -> Result<UnsafeRawBufferPointer, LogRecordError> {
        guard seq >= checksumsFrom else { return .success(stored) }
        switch Checksum.verify(stored, key: key) {
        case .success(let record):
            return .success(record)
        case .failure(let mismatch):
            return .failure(LogRecordError(seq: seq, pid: LogRecord.namedPid(in: stored), reason: "\(mismatch)"))
        }
    }

    /// `verified` for a record read by seq; throws the failure.
    private func verified(_ stored: UnsafeRawBufferPointer, seq: UInt64) throws(LogRecordError) -> UnsafeRawBufferPointer {
        try withUnsafeBytes(of: seq.bigEndian) { key in verified(stored, seq: seq, key: key) }.get()
    }

    /// The record at `seq`, or nil if there is none (dropped or never written).
    public func record(at seq: UInt64) throws -> LogRecord? {
        let log = self.log
        return try environment.read { txn in
            guard let value = try txn.get(log, key: StoreKey(seq)) else { return nil }
            return try LogRecord(decoding: try verified(value, seq: seq), seq: seq)
        }
    }

    /// The records at `seqs`, read in one transaction (nil where there is none).
    public func records(at seqs: [UInt64]) throws -> [LogRecord?] {
        let log = self.log
        return try environment.read { txn in
            try seqs.map { seq in
                guard let value = try txn.get(log, key: StoreKey(seq)) else { return nil }
                return try LogRecord(decoding: try verified(value, seq: seq), seq: seq)
            }
        }
    }

    /// Calls `body` with the stored bytes of the record at `seq` (nil if
    /// there is none), checked against its checksum and without it, inside
    /// a read transaction: the bytes are valid only during the call.
    /// - Throws: `LogRecordError` when the checksum does not match.
    public func withRecordBytes<T>(at seq: UInt64, _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        let log = self.log
        return try environment.read { txn in
            guard let stored = try txn.get(log, key: StoreKey(seq)) else { return try body(nil) }
            return try body(try verified(stored, seq: seq))
        }
    }

    /// Stores `bytes` as the record at `seq`, with its checksum, in place of
    /// what is there (for repair tools and tests; the writer only appends).
    public func replaceRecord(at seq: UInt64, with bytes: [UInt8]) throws {
        let log = self.log
        let checksummed = seq >= checksumsFrom
        try environment.write { txn in
            try bytes.withUnsafeBytes { record in try Self.putRecord(record, at: seq, checksummed: checksummed, append: false, log, txn) }
        }
    }

    /// Stores `record` at `seq` of the log, followed by its checksum when `checksummed`.
    private static func putRecord(
        _ record: UnsafeRawBufferPointer, at seq: UInt64, checksummed: Bool, append: Bool, _ log: Database, _ txn: Transaction
    ) throws(StoreError) {
        try withUnsafeBytes(of: seq.bigEndian) { key throws(StoreError) in
            guard checksummed else { return try txn.put(log, key: key, value: record, append: append) }
            try txn.reserve(log, key: key, count: record.count + Checksum.size, append: append) { room in
                room.copyMemory(from: record)
                Checksum.store(Checksum.of(key: key, value: record), in: room, at: record.count)
            }
        }
    }

    // MARK: Checked values (snapshots, ledgers)

    /// Stores `value` under `key` in `database` with its checksum.
    public func putChecked(_ txn: Transaction, _ database: Database, key: StoreKey, value: [UInt8]) throws(StoreError) {
        guard checksummedValues else { return try txn.put(database, key: key, value: value) }
        try Self.putChecked(txn, database, key: key, value: value)
    }

    private static func putChecked(_ txn: Transaction, _ database: Database, key: StoreKey, value: [UInt8]) throws(StoreError) {
        let crc = key.bytes.withUnsafeBytes { key in value.withUnsafeBytes { Checksum.of(key: key, value: $0) } }
        try txn.reserve(database, key: key, count: value.count + Checksum.size) { room in
            value.withUnsafeBytes { room.copyMemory(from: $0) }
            Checksum.store(crc, in: room, at: value.count)
        }
    }

    /// The value under `key` in `database` without its checksum, or nil.
    /// - Throws: `StoreError`, or `StoredValueError` when the checksum does not match.
    public func checkedValue(_ txn: Transaction, _ database: Database, key: StoreKey) throws -> UnsafeRawBufferPointer? {
        guard let stored = try txn.get(database, key: key) else { return nil }
        return try key.bytes.withUnsafeBytes { try checkedValue(stored, key: $0, in: database) }
    }

    /// `stored` (read under `key` in `database`) without its checksum.
    /// - Throws: `StoredValueError` when the checksum does not match.
    public func checkedValue(_ stored: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, in database: Database) throws(StoredValueError) -> UnsafeRawBufferPointer {
        guard checksummedValues else { return stored }
        switch Checksum.verify(stored, key: key) {
        case .success(let value): return value
        case .failure(let mismatch): throw StoredValueError(database: database.name, key: Array(key), mismatch: mismatch)
        }
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
