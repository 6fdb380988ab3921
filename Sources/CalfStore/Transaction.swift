import CLMDB
import Glibc

/// A read or write transaction, valid only inside the `read` or `write`
/// body that received it. Buffers it returns point into the map and are
/// valid only until the body returns.
public struct Transaction {
    @usableFromInline let txn: OpaquePointer
    /// Whether puts and deletes are allowed.
    public let isWritable: Bool

    init(txn: OpaquePointer, isWritable: Bool) {
        self.txn = txn
        self.isWritable = isWritable
    }

    // MARK: Reading

    /// The value stored under `key`, or nil.
    public func get(_ database: Database, key: UnsafeRawBufferPointer) throws(StoreError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let code = mdb_get(txn, database.dbi, &k, &v)
        if code == MDB_NOTFOUND { return nil }
        try StoreError.check(code, "mdb_get(\(database.name))")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// The value stored under `key`, or nil.
    public func get(_ database: Database, key: StoreKey) throws(StoreError) -> UnsafeRawBufferPointer? {
        try withKey(key) { k throws(StoreError) in try get(database, key: k) }
    }

    /// The number of entries in `database`.
    public func count(_ database: Database) throws(StoreError) -> Int {
        var stat = MDB_stat()
        try StoreError.check(mdb_stat(txn, database.dbi, &stat), "mdb_stat(\(database.name))")
        return stat.ms_entries
    }

    /// Runs `body` with a cursor over `database`, closed when it returns.
    public func withCursor<T>(_ database: Database, _ body: (inout Cursor) throws -> T) throws -> T {
        var cursor: OpaquePointer?
        try StoreError.check(mdb_cursor_open(txn, database.dbi, &cursor), "mdb_cursor_open(\(database.name))")
        guard let cursor else { throw StoreError(code: EINVAL, operation: "mdb_cursor_open(\(database.name))") }
        defer { mdb_cursor_close(cursor) }
        var wrapper = Cursor(cursor: cursor, database: database)
        return try body(&wrapper)
    }

    // MARK: Writing

    /// Stores `value` under `key`, replacing any value there.
    /// - Parameter append: the key is known to sort after every key in the
    ///   database (`MDB_APPEND`: fast, and an error if it does not).
    public func put(_ database: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, append: Bool = false) throws(StoreError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try StoreError.check(mdb_put(txn, database.dbi, &k, &v, append ? UInt32(MDB_APPEND) : 0), "mdb_put(\(database.name))")
    }

    /// Stores `value` under `key`, replacing any value there.
    public func put(_ database: Database, key: StoreKey, value: [UInt8], append: Bool = false) throws(StoreError) {
        try withKey(key) { k throws(StoreError) in
            try withBytes(of: value) { v throws(StoreError) in try put(database, key: k, value: v, append: append) }
        }
    }

    /// Reserves `count` bytes under `key` and lets `fill` write them in place
    /// (`MDB_RESERVE`: no intermediate copy).
    public func reserve(
        _ database: Database, key: StoreKey, count: Int, append: Bool = false,
        _ fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(StoreError) {
        try withKey(key) { k throws(StoreError) in try reserve(database, key: k, count: count, append: append, fill) }
    }

    /// Reserves `count` bytes under the raw `key` and lets `fill` write them
    /// in place (`MDB_RESERVE`: no intermediate copy).
    public func reserve(
        _ database: Database, key: UnsafeRawBufferPointer, count: Int, append: Bool = false,
        _ fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(StoreError) {
        var kv = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: count, mv_data: nil)
        let flags = UInt32(MDB_RESERVE) | (append ? UInt32(MDB_APPEND) : 0)
        try StoreError.check(mdb_put(txn, database.dbi, &kv, &v, flags), "mdb_put(\(database.name), reserve)")
        fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
    }

    /// Deletes the entry under `key`; returns whether there was one.
    @discardableResult
    public func delete(_ database: Database, key: StoreKey) throws(StoreError) -> Bool {
        try withKey(key) { k throws(StoreError) in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            let code = mdb_del(txn, database.dbi, &kv, nil)
            if code == MDB_NOTFOUND { return false }
            try StoreError.check(code, "mdb_del(\(database.name))")
            return true
        }
    }

    /// Deletes every entry of `database`.
    public func clear(_ database: Database) throws(StoreError) {
        try StoreError.check(mdb_drop(txn, database.dbi, 0), "mdb_drop(\(database.name))")
    }

    private func withKey<T>(_ key: StoreKey, _ body: (UnsafeRawBufferPointer) throws(StoreError) -> T) throws(StoreError) -> T {
        try withBytes(of: key.bytes, body)
    }
}

/// `Array.withUnsafeBytes` with a typed error.
func withBytes<T>(of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(StoreError) -> T) throws(StoreError) -> T {
    let result: Result<T, StoreError> = array.withUnsafeBytes { bytes in
        do throws(StoreError) { return .success(try body(bytes)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// A position in a database, moved by `first`, `last`, `seek`, `next` and
/// `prev`, each returning the entry it lands on or nil past either end.
/// Valid only inside the `withCursor` body that received it.
public struct Cursor {
    /// One entry: its key and value, pointing into the map.
    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    let cursor: OpaquePointer
    let database: Database

    /// The first entry.
    public mutating func first() throws(StoreError) -> Entry? { try move(MDB_FIRST) }
    /// The last entry.
    public mutating func last() throws(StoreError) -> Entry? { try move(MDB_LAST) }
    /// The entry after the current one.
    public mutating func next() throws(StoreError) -> Entry? { try move(MDB_NEXT) }
    /// The entry before the current one.
    public mutating func prev() throws(StoreError) -> Entry? { try move(MDB_PREV) }

    /// The first entry whose key is at least `key`.
    public mutating func seek(atLeast key: StoreKey) throws(StoreError) -> Entry? {
        let cursor = self.cursor
        let name = database.name
        return try withBytes(of: key.bytes) { raw throws(StoreError) -> Entry? in
            var k = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            var v = MDB_val()
            let code = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
            if code == MDB_NOTFOUND { return nil }
            try StoreError.check(code, "mdb_cursor_get(\(name), seek)")
            return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
        }
    }

    /// Deletes the entry the cursor is on (write transactions).
    public mutating func deleteCurrent() throws(StoreError) {
        try StoreError.check(mdb_cursor_del(cursor, 0), "mdb_cursor_del(\(database.name))")
    }

    private mutating func move(_ op: MDB_cursor_op) throws(StoreError) -> Entry? {
        var k = MDB_val()
        var v = MDB_val()
        let code = mdb_cursor_get(cursor, &k, &v, op)
        if code == MDB_NOTFOUND { return nil }
        try StoreError.check(code, "mdb_cursor_get(\(database.name))")
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }
}
