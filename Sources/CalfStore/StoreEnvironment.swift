import CLMDB
import Glibc
import Synchronization

/// An LMDB environment: one data directory, opened with mode 0600, holding
/// named databases.
///
/// ```swift
/// let store = try StoreEnvironment(path: dir)
/// let log = try store.database("log")
/// try store.write { txn in try txn.put(log, key: StoreKey(1), value: bytes, append: true) }
/// let value = try store.read { txn in try txn.get(log, key: StoreKey(1)).map(Array.init) }
/// ```
///
/// The map grows by itself: when a write transaction finds it full
/// (`MDB_MAP_FULL`, from a put or from the commit), the transaction is
/// aborted, the map doubled, and the transaction's body run again on a fresh
/// transaction. Bodies of `write` must therefore only write, and compute
/// what they write from their inputs, not from earlier runs.
///
/// Thread ownership: LMDB's environment handle is thread-safe; a
/// transaction belongs to the thread running its body. `resizeLock` keeps
/// every transaction of this process out while the map is resized (LMDB
/// requires that). Do not nest `read` or `write` calls.
public final class StoreEnvironment: @unchecked Sendable {
    /// How a committed write transaction survives crashes.
    public enum Durability: String, Sendable, CaseIterable {
        /// Each commit is fsynced: survives a power cut.
        case fsync
        /// Commits are written to the OS page cache but not fsynced: they
        /// survive `kill -9` of the node, not a power cut or kernel crash.
        case process
    }

    // invariant: set in init and nil only after close(), which must be the last call.
    private var env: OpaquePointer?
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>
    private let growths = Atomic<Int>(0)
    /// The directory the environment lives in.
    public let path: String
    /// Whether commits are fsynced.
    public let durability: Durability
    /// Whether the environment was opened read-only (beside a running node, or offline).
    public let isReadOnly: Bool
    /// The largest the map may grow to.
    public let maximumMapSize: Int

    /// Opens (creating if needed) the environment in the existing directory `path`.
    /// - Parameters:
    ///   - mapSize: the initial map size; it grows when full, up to `maximumMapSize`.
    ///   - maxDatabases: how many named databases may be opened.
    ///   - durability: `fsync` (default) or `process`.
    ///   - readOnly: open for reading only; the environment must exist.
    public init(
        path: String, mapSize: Int = 64 << 20, maximumMapSize: Int = 1 << 40, maxDatabases: UInt32 = 16,
        durability: Durability = .fsync, readOnly: Bool = false
    ) throws(StoreError) {
        self.path = path
        self.durability = durability
        self.isReadOnly = readOnly
        self.maximumMapSize = maximumMapSize
        var env: OpaquePointer?
        try StoreError.check(mdb_env_create(&env), "mdb_env_create")
        do {
            try StoreError.check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize(\(mapSize))")
            try StoreError.check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs")
            try StoreError.check(mdb_env_set_maxreaders(env, 510), "mdb_env_set_maxreaders")
            var flags = UInt32(MDB_NOTLS)
            if durability == .process { flags |= UInt32(MDB_NOSYNC) }
            if readOnly { flags |= UInt32(MDB_RDONLY) }
            try StoreError.check(mdb_env_open(env, path, flags, 0o600), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.env = env
        resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(resizeLock, nil)
    }

    deinit {
        close()
        pthread_rwlock_destroy(resizeLock)
        resizeLock.deallocate()
    }

    /// The LMDB library version string.
    public static var libraryVersion: String { String(cString: mdb_version(nil, nil, nil)) }

    /// The size of the memory map in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        guard let env, mdb_env_info(env, &info) == 0 else { return 0 }
        return info.me_mapsize
    }

    /// Bytes of the map in use (pages written so far).
    public var usedBytes: Int {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        guard let env, mdb_env_info(env, &info) == 0, mdb_env_stat(env, &stat) == 0 else { return 0 }
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }

    /// How many times the map has grown since the environment was opened.
    public var mapGrowths: Int { growths.load(ordering: .relaxed) }

    /// Closes the environment. Idempotent; no transaction may be running.
    public func close() {
        if let env { mdb_env_close(env) }
        env = nil
    }

    /// Copies the environment as of now (one read transaction: the writer is
    /// not held up) into the existing, empty directory `directory`, leaving
    /// out free pages.
    public func copy(to directory: String) throws(StoreError) {
        guard let env else { throw StoreError(code: EINVAL, operation: "mdb_env_copy2: environment closed") }
        try StoreError.check(mdb_env_copy2(env, directory, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2(\(directory))")
    }

    /// Flushes committed data to disk (useful at the `process` durability level).
    public func sync() throws(StoreError) {
        guard let env else { throw StoreError(code: EINVAL, operation: "mdb_env_sync: environment closed") }
        try StoreError.check(mdb_env_sync(env, 1), "mdb_env_sync")
    }

    // MARK: Databases

    /// Opens the named database, creating it if `create` and it is missing.
    public func database(_ name: String, create: Bool = true) throws(StoreError) -> Database {
        // A handle opened in a transaction lives on only if that transaction
        // commits (read-only ones too), so this is done by hand.
        let txn = try begin(writable: !isReadOnly)
        defer { pthread_rwlock_unlock(resizeLock) }
        var dbi = MDB_dbi()
        let flags = UInt32(create && !isReadOnly ? MDB_CREATE : 0)
        let code = mdb_dbi_open(txn, name, flags, &dbi)
        guard code == 0 else {
            mdb_txn_abort(txn)
            throw StoreError(code: code, operation: "mdb_dbi_open(\(name))")
        }
        try StoreError.check(mdb_txn_commit(txn), "mdb_txn_commit(open \(name))")
        return Database(name: name, dbi: dbi)
    }

    // MARK: Transactions

    /// Runs `body` in a read-only transaction: a consistent snapshot that does
    /// not block the writer. Values it returns point into the map and are
    /// valid only inside `body`.
    public func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        let txn = try begin(writable: false)
        defer {
            mdb_txn_abort(txn)
            pthread_rwlock_unlock(resizeLock)
        }
        return try body(Transaction(txn: txn, isWritable: false))
    }

    /// Runs `body` in a write transaction and commits it. If the map fills
    /// up, it is grown and `body` runs again on a fresh transaction; if
    /// `body` throws, nothing is written.
    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        guard !isReadOnly else { throw StoreError(code: EACCES, operation: "mdb_txn_begin(write): opened read-only") }
        while true {
            let txn = try begin(writable: true)
            let result: T
            do {
                result = try body(Transaction(txn: txn, isWritable: true))
            } catch let error as StoreError where error.isMapFull {
                mdb_txn_abort(txn)
                pthread_rwlock_unlock(resizeLock)
                try grow()
                continue
            } catch {
                mdb_txn_abort(txn)
                pthread_rwlock_unlock(resizeLock)
                throw error
            }
            // A failed commit has freed the transaction already: no abort.
            let commit = mdb_txn_commit(txn)
            pthread_rwlock_unlock(resizeLock)
            if commit == MDB_MAP_FULL {
                try grow()
                continue
            }
            try StoreError.check(commit, "mdb_txn_commit")
            return result
        }
    }

    /// Begins a transaction and returns it with `resizeLock` held for
    /// reading; the caller ends both. Takes on a size another process set.
    private func begin(writable: Bool) throws(StoreError) -> OpaquePointer {
        while true {
            pthread_rwlock_rdlock(resizeLock)
            var txn: OpaquePointer?
            let code = env.map { mdb_txn_begin($0, nil, writable ? 0 : UInt32(MDB_RDONLY), &txn) } ?? EINVAL
            if code == 0, let txn { return txn }
            pthread_rwlock_unlock(resizeLock)
            guard code == MDB_MAP_RESIZED else {
                throw StoreError(code: code, operation: writable ? "mdb_txn_begin(write)" : "mdb_txn_begin(read)")
            }
            try adoptResize()
        }
    }

    /// Doubles the map, with every transaction of this process kept out.
    private func grow() throws(StoreError) {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        let current = mapSize
        guard current < maximumMapSize else {
            throw StoreError(code: MDB_MAP_FULL, operation: "growing the map beyond its maximum of \(maximumMapSize) bytes")
        }
        let next = min(maximumMapSize, max(current * 2, 1 << 20))
        try StoreError.check(mdb_env_set_mapsize(env, next), "mdb_env_set_mapsize(\(next))")
        growths.wrappingAdd(1, ordering: .relaxed)
    }

    /// Takes on a map size another process set (`MDB_MAP_RESIZED`).
    private func adoptResize() throws(StoreError) {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        try StoreError.check(mdb_env_set_mapsize(env, 0), "mdb_env_set_mapsize(0)")
    }
}

/// A named database of an environment (a handle valid as long as the environment).
public struct Database: Sendable, Hashable {
    /// The database's name.
    public let name: String
    @usableFromInline let dbi: MDB_dbi
}
