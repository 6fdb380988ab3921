import CalfControl
import CalfRuntime
import Synchronization

/// The code of a durable process: like `Behavior`, but its messages and state
/// are `Codable` because they are journaled, and the behavior value itself is
/// `Codable` because the journal keeps it to rebuild the process after a
/// restart of the node. A message or state type that also conforms to
/// `JournalCodable` is journaled field by field instead of through Codable's
/// containers (the fast path for hot messages; `calf bench codec`).
///
/// The contract (DESIGN.md, guarantees 1–4):
/// - `handle` must be a deterministic function of (state, message, context):
///   read time and randomness from the context (`context.now`,
///   `context.random`), never from the system. Replay after a crash runs the
///   same handler on the same journaled messages and checks that it produces
///   the same outputs (a digest is journaled per message); a different
///   output stops the process with a `DivergenceError`.
/// - What a handler does besides changing its state (sends, replies, timers,
///   spawns, stopping) takes effect only once its outcome is committed to
///   the journal, atomically with the state change.
/// - Throwing crashes the process: it is rebuilt from its last snapshot plus
///   the journal and the message is retried; after `maximumFailures` failures
///   in a row the message goes to the dead letters and the process moves on.
///
/// ```swift
/// struct Account: DurableBehavior {
///     var opening = 1000
///     enum Message: Codable, Sendable { case credit(amount: Int), debit(amount: Int) }
///     struct State: Codable { var balance: Int }
///     func initialState() -> State { State(balance: opening) }
///     func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
///         switch message {
///         case .credit(let amount): state.balance += amount
///         case .debit(let amount): state.balance -= amount
///         }
///     }
/// }
/// ```
public protocol DurableBehavior: Codable, Sendable {
    /// The type of the messages this process accepts (journaled).
    associatedtype Message: Codable & Sendable
    /// The state the process keeps between messages (snapshotted).
    associatedtype State: Codable

    /// The name the journal records for this behavior; the node that
    /// restarts it must know a behavior by that name. Default: the type's name.
    static var behaviorName: String { get }

    /// Take a snapshot after this many handled messages (nil: the node's default).
    var snapshotEvery: Int? { get }

    /// Also take a snapshot when this long has passed since the last one and
    /// messages were handled since (nil: only the node's checkpoint rounds).
    var snapshotInterval: Duration? { get }

    /// How many messages from outside (`Node.send`, the shell, HTTP, a
    /// transient sender) one of its processes takes before it has handled
    /// them; past it they are refused `overloaded` (nil: the node's
    /// `DurableOptions.mailboxLimit`). Mail from durable processes, timers
    /// and effects is never refused: it is the outcome of a commit.
    var mailboxLimit: Int? { get }

    /// How long one of its processes may sit idle before it is passivated:
    /// its snapshot written and its cell dropped from RAM, to come back
    /// transparently when mail, a call, a callback or a due timer arrives
    /// (nil: the node's `DurableOptions.passivateAfter`). A process that is
    /// linked or monitored, traced, suspended or has effects under way
    /// stays in RAM.
    var passivateAfter: Duration? { get }

    /// The effect types its handler asks for (`DurableContext.perform`):
    /// the node must know them to run one again after a restart. Default: none.
    static var effects: [any DurableEffect.Type] { get }

    /// The state a new process starts with.
    func initialState() throws -> State

    /// Handles one message.
    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws

    /// How the runtime runs this behavior's processes, compiled in the
    /// module that defines the behavior (so the turn is specialized for its
    /// message and state types). Leave it to the default.
    static var _durableRuntime: DurableRuntime { get }
}

/// Behavior types' names, each made once (`String(describing:)` demangles
/// the type's name: measured at 6 % of `calf bench million`, asked at each
/// spawn, snapshot and passivation).
private let behaviorNames = Mutex<[ObjectIdentifier: String]>([:])

extension DurableBehavior {
    /// The type's name.
    public static var behaviorName: String {
        let type = ObjectIdentifier(Self.self)
        if let name = behaviorNames.withLock({ $0[type] }) { return name }
        let name = String(describing: Self.self)
        behaviorNames.withLock { $0[type] = name }
        return name
    }
    /// None.
    public static var effects: [any DurableEffect.Type] { [] }
    /// The node's default.
    public var snapshotEvery: Int? { nil }
    /// Only the node's checkpoint rounds.
    public var snapshotInterval: Duration? { nil }
    /// The node's default.
    public var mailboxLimit: Int? { nil }
    /// The node's default.
    public var passivateAfter: Duration? { nil }
    /// The runtime's turn and mail hand-over for `Self`, specialized where `Self` is defined.
    @inlinable public static var _durableRuntime: DurableRuntime { DurableRuntime(Self.self) }
}

/// What a durable process of one behavior runs, built where the behavior is
/// defined: its turn and the hand-over of its mail, specialized for its
/// types (generic code of this module runs unspecialized for a user's
/// types, and its generic-metadata lookups cost more than the work).
public struct DurableRuntime: Sendable {
    /// Installs the specialized functions on a new cell of the behavior;
    /// false (nothing installed) on a cell of another behavior.
    @usableFromInline package let install: @Sendable (AnyObject) -> Bool

    /// The runtime of `B`.
    @inlinable public init<B: DurableBehavior>(_: B.Type) {
        install = { cell in
            guard let typed = cell as? DurableCell<B> else { return false }
            DurableCell<B>.installSpecialized(on: typed)
            return true
        }
    }
}
