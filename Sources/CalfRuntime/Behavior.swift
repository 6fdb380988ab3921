import CalfControl

/// The code of a process, in the shape of Erlang's gen_server.
///
/// Callback contract:
/// - `initialState()` runs once, in the new process, before anything else;
///   throwing fails the spawn with that error.
/// - `started(state:context:)` runs next (gen_server's `init/1` side
///   effects: link, monitor, set timers, send); throwing fails the spawn.
/// - `handle(_:state:context:)` runs for each message, one at a time. It is
///   synchronous and must not block. Throwing crashes the process with the
///   error as its exit reason; throwing `Exit(reason)` exits with `reason`.
///   A message sent with `call` is answered with `context.reply(_:)`.
/// - `handle(signal:state:context:)` receives exit signals of linked
///   processes (only while trapping exits) and monitors' down signals.
/// - `terminate(reason:state:context:)` runs when the process stops by its
///   own doing (a `stop`, a throw, a stop request); not when it is killed
///   or taken down by a link.
public protocol Behavior: Sendable {
    /// The type of the messages this process accepts.
    associatedtype Message: Sendable
    /// The state the process keeps between messages.
    associatedtype State

    /// The state a new process starts with.
    func initialState() throws -> State

    /// Runs once after `initialState()`, before the first message.
    func started(state: inout State, context: inout Context<Message>) throws

    /// Handles one message.
    func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws

    /// Handles an exit signal (while trapping exits) or a down signal.
    func handle(signal: Signal, state: inout State, context: inout Context<Message>) throws

    /// Runs when the process stops by its own doing.
    func terminate(reason: ExitReason, state: inout State, context: inout Context<Message>)

    /// The bound of its processes' mailboxes (nil: the node's
    /// `mailboxLimit`, by default unbounded). Read once, at each spawn.
    var mailboxLimit: MailboxLimit? { get }
}

extension Behavior {
    /// Does nothing.
    public func started(state: inout State, context: inout Context<Message>) throws {}
    /// Ignores the signal.
    public func handle(signal: Signal, state: inout State, context: inout Context<Message>) throws {}
    /// Does nothing.
    public func terminate(reason: ExitReason, state: inout State, context: inout Context<Message>) {}
    /// The node's default.
    public var mailboxLimit: MailboxLimit? { nil }
}

extension Behavior where State == Void {
    /// A stateless behavior starts with no state.
    public func initialState() throws {}
}
