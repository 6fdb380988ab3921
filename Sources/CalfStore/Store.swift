import CLMDB

/// An error reported by LMDB, with the call that failed and LMDB's own text.
public struct StoreError: Error, Equatable, CustomStringConvertible {
    /// LMDB's (or the system's) error code.
    public let code: Int32
    /// The LMDB call that failed.
    public let operation: String

    /// Creates an error for `code` returned by `operation`.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// `mdb_strerror`'s text for the code.
    public var message: String { String(cString: mdb_strerror(code)) }

    public var description: String { "\(operation) failed: \(message) (\(code))" }

    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(StoreError) {
        if code != 0 { throw StoreError(code: code, operation: operation()) }
    }
}

/// An LMDB environment: one data directory, opened with mode 0600.
///
/// This is the seed of CalfStore; the durability issue grows it into named
/// databases, transactions, cursors and the journal layout. Thread ownership:
/// the environment handle is thread-safe per LMDB; `close()` must be the last call.
public final class StoreEnvironment: @unchecked Sendable {
    private var env: OpaquePointer?
    /// The directory the environment lives in.
    public let path: String

    /// Opens (creating if needed) the environment in the existing directory `path`.
    public init(path: String, mapSize: Int = 64 << 20, maxDatabases: UInt32 = 16) throws(StoreError) {
        self.path = path
        var env: OpaquePointer?
        try StoreError.check(mdb_env_create(&env), "mdb_env_create")
        do {
            try StoreError.check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            try StoreError.check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs")
            try StoreError.check(mdb_env_open(env, path, UInt32(MDB_NOTLS), 0o600), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.env = env
    }

    /// The LMDB library version string.
    public static var libraryVersion: String { String(cString: mdb_version(nil, nil, nil)) }

    /// The size of the memory map in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        guard let env, mdb_env_info(env, &info) == 0 else { return 0 }
        return info.me_mapsize
    }

    /// Closes the environment. Idempotent.
    public func close() {
        if let env { mdb_env_close(env) }
        env = nil
    }

    deinit { close() }
}
