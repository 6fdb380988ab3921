import CalfStore
import CalfControl
import CalfRuntime

/// How a node keeps its durable processes: where, how safely, how often it
/// snapshots, how much history it keeps.
public struct DurableOptions: Sendable {
    /// The data directory (created if missing).
    public var path: String
    /// `fsync` (default; survives a power cut) or `process` (no fsync;
    /// survives `kill -9` of the node, not a power cut).
    public var durability: StoreEnvironment.Durability
    /// Snapshot a process after this many handled messages (a behavior's
    /// `snapshotEvery` overrides it).
    public var snapshotEvery: Int
    /// How often every changed process is snapshotted (a checkpoint round),
    /// which moves the point where a node start begins its log scan.
    public var checkpointInterval: Duration
    /// How long log records are kept for inspection after no process needs
    /// them any more.
    public var history: Duration
    /// How long an idempotency key is remembered.
    public var keyRetention: Duration
    /// Failures in a row after which a message goes to the dead letters.
    public var maximumFailures: Int
    /// Behaviors this node can run (to rebuild processes from the journal).
    public var behaviors: [any DurableBehavior.Type]
    /// Effect types this node can run again after a restart, besides those
    /// the behaviors list (`DurableBehavior.effects`).
    public var effects: [any DurableEffect.Type] = []
    /// What the node's effects work with (`EffectAttempt.services`): a connector.
    public var services = EffectServices()
    /// What callback URLs start with (`{callbackBase}/v1/callbacks/{token}`):
    /// the node's public HTTP address, as the services that call back reach
    /// it. Empty: the URLs are paths only.
    public var callbackBase = ""
    /// The LMDB map's first size, in bytes (it grows by itself).
    public var mapSize: Int
    /// Whether an orderly shutdown snapshots every changed process (a
    /// faster next start). Off, the next start replays from the journal as
    /// it would after a crash.
    public var checkpointAtShutdown = true
    /// How many messages from outside a durable process takes before it
    /// has handled them (a behavior's `mailboxLimit` overrides it): past
    /// it, such mail is refused `overloaded` (the control socket's error,
    /// HTTP 429 with `Retry-After`), nothing written. Mail from durable
    /// processes, timers and effects is never refused (it is the outcome of
    /// a commit) and does not count.
    public var mailboxLimit = 10_000
    /// How many messages from outside wait for the journal's next commit at
    /// most: past it they are refused `overloaded`, so a flood slows its
    /// senders down instead of growing the writer's queue.
    public var writerQueueLimit = 100_000
    /// How long an `overloaded` refusal tells its sender to wait before it tries again.
    public var overloadRetryAfter: Duration = .seconds(1)
    /// How long a durable process may sit idle before it leaves RAM
    /// (passivation: its snapshot written, its cell dropped; the next mail,
    /// call, callback or due timer brings it back from the snapshot, in
    /// order). A behavior's `passivateAfter` overrides it; nil: never.
    public var passivateAfter: Duration?
    /// For inspecting a copy of a data directory (`calf shell --offline`):
    /// every process comes back suspended (its mail waits, its timers are
    /// not armed), no checkpoint round runs, and ports a killed node left
    /// are not looked for.
    public var inspecting = false

    /// Options for a data directory at `path`.
    public init(
        path: String,
        durability: StoreEnvironment.Durability = .fsync,
        behaviors: [any DurableBehavior.Type],
        snapshotEvery: Int = 1000,
        checkpointInterval: Duration = .seconds(5),
        history: Duration = .seconds(3600),
        keyRetention: Duration = .seconds(24 * 3600),
        maximumFailures: Int = 3,
        mapSize: Int = 64 << 20
    ) {
        self.path = path
        self.durability = durability
        self.behaviors = behaviors
        self.snapshotEvery = max(1, snapshotEvery)
        self.checkpointInterval = checkpointInterval
        self.history = history
        self.keyRetention = keyRetention
        self.maximumFailures = max(1, maximumFailures)
        self.mapSize = mapSize
    }
}
