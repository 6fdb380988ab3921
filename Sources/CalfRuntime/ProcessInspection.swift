import CalfControl

/// What the operator asks of any process (`ps`, `info`, `mailbox`, `stats`),
/// behind one protocol: every cell conforms through `MailboxCell`, so the
/// process itself (`ProcessCell`) carries no operator hooks. Loop thread.
package protocol InspectableProcess: ProcessCell {
    /// The behavior's type name.
    var behaviorName: String { get }
    /// `runnable`, `waiting`, or a durable process's `recovering`, `stopping`, `quarantined`.
    var statusName: String { get }
    /// Messages waiting.
    var mailboxCount: Int { get }
    /// Bytes of its mailbox buffer.
    var mailboxBytes: Int { get }
    /// Restarts in place.
    var restartCount: UInt64 { get }
    /// A durable process (journaled; rebuilt after a restart of the node).
    var isDurable: Bool { get }
    /// Why it is quarantined, if it is.
    var quarantineReason: String? { get }
    /// Its pending mail as JSON texts.
    func mailboxJSON() -> [String]
    /// The bound of its mailbox, what counts against it now and what it
    /// refused so far (nil: unbounded).
    var mailboxBound: MailboxBoundState? { get }
}

/// Where a process stands against the bound of its mailbox (`info`, `ps --json`).
public struct MailboxBoundState: Sendable {
    /// How much it takes.
    public var limit: Int
    /// What counts against it now.
    public var backlog: Int
    /// Messages and calls refused so far.
    public var refused: UInt64

    /// The three figures.
    public init(limit: Int, backlog: Int, refused: UInt64) {
        self.limit = limit
        self.backlog = backlog
        self.refused = refused
    }
}

extension MailboxCell: InspectableProcess {}

extension ProcessCell {
    /// This process as the operator sees it: every cell is a `MailboxCell`
    /// (the only subclass of `ProcessCell`), which conforms.
    package var inspected: (any InspectableProcess)? { self as? any InspectableProcess }

    /// Its status as reports show it: `suspended` by the operator, else its own.
    package var reportedStatus: String { suspended ? "suspended" : inspected?.statusName ?? "unknown" }
}
