import CalfControl

/// A reference naming one monitor, as returned by `monitor` and carried by its down signal.
public struct MonitorRef: Hashable, Sendable, CustomStringConvertible {
    /// The node-unique number of the monitor.
    public let id: UInt64
    public var description: String { "#Ref<\(id)>" }
}

/// A reference to one pending timer, for `cancelTimer`.
public struct TimerRef: Hashable, Sendable, CustomStringConvertible {
    /// The node-unique number of the timer.
    public let id: UInt64
    public var description: String { "#Timer<\(id)>" }
}

/// System messages a process receives besides its own typed messages
/// (gen_server's `handle_info` door).
public enum Signal: Sendable, Equatable {
    /// A linked process exited; delivered only to a process that traps exits.
    case exit(from: Pid, reason: ExitReason)
    /// A monitored process ended (or did not exist: reason `noProcess`).
    case down(MonitorRef, pid: Pid, reason: ExitReason)
}
