/// A durable effect under way, as the shell's `effects` lists it.
public struct EffectReport: Codable, Sendable, Equatable {
    /// The process that asked for it.
    public var pid: String
    /// That process's registered name, if it has one.
    public var name: String?
    /// The effect's id within its process.
    public var id: UInt64
    /// Its type's `effectName`.
    public var effect: String
    /// Its idempotency key.
    public var key: String
    /// When it was asked for (ns since the epoch).
    public var startedAt: UInt64
    /// Attempts started in this run of the node (0: not started yet, or the node is inspecting).
    public var attempts: Int
    /// Why the last attempt failed, while another is to come.
    public var lastError: String?
    /// When the next attempt starts (ns since the epoch), while it waits.
    public var nextAttemptAt: UInt64?

    /// A report.
    public init(pid: String, name: String?, id: UInt64, effect: String, key: String, startedAt: UInt64, attempts: Int, lastError: String?, nextAttemptAt: UInt64?) {
        self.pid = pid
        self.name = name
        self.id = id
        self.effect = effect
        self.key = key
        self.startedAt = startedAt
        self.attempts = attempts
        self.lastError = lastError
        self.nextAttemptAt = nextAttemptAt
    }
}
