/// A callback, as the shell's `callbacks` lists it (never its token).
public struct CallbackReport: Codable, Sendable, Equatable {
    /// The first 12 hex digits of its token's SHA-256 (what the node keeps).
    public var hash: String
    /// The process that minted it.
    public var pid: String
    /// That process's registered name, if it is alive and named.
    public var name: String?
    /// Its id within its process.
    public var id: UInt64
    /// "pending", "delivered", "cancelled" or "expired".
    public var status: String
    /// When it expires (ns since the epoch).
    public var expiresAt: UInt64
    /// POSTs answered 410 (it had expired, was cancelled, or its process exited), since the node started.
    public var late: Int
    /// POSTs answered 409 (a body other than the one delivered), since the node started.
    public var conflicting: Int

    /// A report.
    public init(hash: String, pid: String, name: String?, id: UInt64, status: String, expiresAt: UInt64, late: Int, conflicting: Int) {
        self.hash = hash
        self.pid = pid
        self.name = name
        self.id = id
        self.status = status
        self.expiresAt = expiresAt
        self.late = late
        self.conflicting = conflicting
    }
}
