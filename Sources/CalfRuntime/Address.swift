import CalfControl

/// A typed handle to a process: where messages of type `Message` can be sent.
///
/// Addresses are values: copy them into messages, keep them in state. An
/// address stays valid after its process ended; sends to it then become dead
/// letters. Two addresses are equal when they name the same process.
public struct Address<Message: Sendable>: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline package let cell: MailboxCell<Message>

    @usableFromInline package init(cell: MailboxCell<Message>) { self.cell = cell }

    /// The process's pid.
    public var pid: Pid { cell.pid }

    /// The index of the scheduler the process is pinned to.
    public var schedulerIndex: Int { cell.scheduler.index }

    public var description: String { cell.pid.description }

    public static func == (lhs: Address, rhs: Address) -> Bool { lhs.cell === rhs.cell }

    public func hash(into hasher: inout Hasher) { hasher.combine(cell.pid) }
}
