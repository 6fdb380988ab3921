/// One record of a durable process's history, as the shell's `journal` shows it.
public struct JournalEntry: Codable, Sendable, Equatable {
    /// Its seq in the global log.
    public var seq: UInt64
    /// The process it concerns (filled in when listing every process's records).
    public var pid: String?
    /// `accepted` (a message it was sent), `handled` (messages it handled in
    /// one turn), a lifecycle event (`spawned`, `exited`, `restarted`,
    /// `timerSet`, `timerFired`, `deadLettered`, `quarantined`,
    /// `timerCancelled`, `effectStarted`, `effectFinished`), or `corrupt` (a record that cannot be read).
    public var kind: String
    /// When an accepted message was accepted (ns since the epoch).
    public var acceptedAt: UInt64?
    /// An accepted message's idempotency key.
    public var key: String?
    /// An accepted message (nil if its process is gone or it does not decode).
    public var message: JSONValue?
    /// The seqs of the messages a `handled` record covers.
    public var handled: [UInt64]?
    /// Why a `corrupt` record cannot be read (its checksum or its bytes).
    public var error: String?
    /// Why it restarted, for a `restarted` record.
    public var reason: String?

    /// An entry.
    public init(seq: UInt64, pid: String? = nil, kind: String, acceptedAt: UInt64? = nil, key: String? = nil, message: JSONValue? = nil,
                handled: [UInt64]? = nil, error: String? = nil, reason: String? = nil) {
        self.seq = seq
        self.pid = pid
        self.kind = kind
        self.acceptedAt = acceptedAt
        self.key = key
        self.message = message
        self.handled = handled
        self.error = error
        self.reason = reason
    }
}
