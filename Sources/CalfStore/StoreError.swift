import CLMDB

/// An error reported by LMDB, with the call that failed and LMDB's own text.
public struct StoreError: Error, Equatable, CustomStringConvertible {
    /// LMDB's (or the system's) error code.
    public let code: Int32
    /// The LMDB call that failed, with what it was asked for.
    public let operation: String

    /// Creates an error for `code` returned by `operation`.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// `mdb_strerror`'s text for the code.
    public var message: String { String(cString: mdb_strerror(code)) }

    /// Whether the memory map was full (the environment grows it and retries;
    /// callers see this only if growing failed).
    public var isMapFull: Bool { code == MDB_MAP_FULL }

    /// Whether a key that had to exist was not found.
    public var isNotFound: Bool { code == MDB_NOTFOUND }

    public var description: String { "\(operation) failed: \(message) (\(code))" }

    @usableFromInline
    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(StoreError) {
        if code != 0 { throw StoreError(code: code, operation: operation()) }
    }
}
