import Metrics
import Synchronization
import CalfControl

/// Errors about registered names.
public enum NameError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another live process holds the name.
    case taken(String, by: Pid)
    /// The process already has a name (Erlang allows one per process).
    case alreadyNamed(Pid, String)
    /// The process is not alive.
    case notAlive(Pid)

    public var description: String {
        switch self {
        case .taken(let name, let pid): "name '\(name)' is taken by \(pid)"
        case .alreadyNamed(let pid, let name): "\(pid) is already registered as '\(name)'"
        case .notAlive(let pid): "\(pid) is not alive"
        }
    }
}

/// Node-wide state shared by the schedulers: names, counters, id allocation.
///
/// Thread-safe: every field is a `Mutex` or an atomic.
@usableFromInline
package final class NodeCore: Sendable {
    private let names = Mutex<[String: ProcessCell]>([:])
    private let nextSerial = Atomic<UInt64>(1)
    private let nextRef = Atomic<UInt64>(1)
    private let nextSpread = Atomic<Int>(0)
    private let deadLetters = Atomic<Int>(0)
    /// Batches of processes moving between schedulers whose move has not
    /// ended yet (`Scheduler+Migration`).
    package let movesInFlight = Atomic<Int>(0)
    /// Batches of moves begun since the node started.
    package let movesBegun = Atomic<Int>(0)
    /// Processes moved since the node started (by the balancer, a
    /// placement or an operator), for `stats`.
    package let processesMoved = Atomic<Int>(0)
    /// What the node's HTTP API served, if it has one (`HTTPCounters`).
    package let httpCounters = HTTPCounters()
    /// False once the node stops: no move starts after that.
    package let acceptsMoves = Atomic<Bool>(true)
    /// How the schedulers balance, and whether they do (on, with more than one scheduler).
    package let balancing: Balancing
    package let balances: Bool
    /// When a tick last considered parking or unparking a scheduler, and
    /// when one was last parked or unparked (monotonic nanoseconds).
    package let balanceDecidedAt = Atomic<UInt64>(0)
    package let parkingChangedAt = Atomic<UInt64>(0)
    /// Held by a thread outside every scheduler while it reads a process's
    /// scheduler and pushes mail there, so that a move can tell when no
    /// such sender still holds the old address (`Scheduler+Migration`).
    @usableFromInline package let outsideSends = Mutex<Void>(())
    /// The layers the node carries, in the order they were attached (`NodeLayer`).
    private let layers = Mutex<[any NodeLayer]>([])
    /// The first layer attached, read without the lock: the durable layer,
    /// asked for on every durable send and address (the lock and a cast
    /// were 1 % of bringing a million passivated processes back).
    private let firstLayer = AtomicLazyReference<AttachedLayer>()
    /// Where the node's figures go (`MetricsSystem.factory` unless the node was given one).
    package let metrics: any MetricsFactory

    /// The clock a test moves by hand (nil: the system's).
    package let clock: ManualClock?

    /// The node's wall time: its manual clock's, else the system's.
    @usableFromInline package var wallNow: WallTime { clock?.wallNow ?? .now }

    /// The bound of a transient process's mailbox whose behavior names none (nil: unbounded).
    @usableFromInline package let mailboxLimit: MailboxLimit?

    package init(metrics: any MetricsFactory, clock: ManualClock? = nil, balancing: Balancing = .off, schedulers: Int = 1, mailboxLimit: MailboxLimit? = nil) {
        self.metrics = metrics
        self.mailboxLimit = mailboxLimit
        self.clock = clock
        self.balancing = balancing
        self.balances = balancing.enabled && schedulers > 1
    }

    // MARK: Layers

    /// Attaches `layer` (once; the durable layer before any process runs).
    package func attach(_ layer: any NodeLayer) {
        layers.withLock { layers in
            if layers.isEmpty { _ = firstLayer.storeIfNil(AttachedLayer(layer)) }
            layers.append(layer)
        }
    }

    /// The attached layer of type `L`, if any.
    package func layer<L: NodeLayer>(_ type: L.Type) -> L? {
        if let first = firstLayer.load()?.layer, ObjectIdentifier(Swift.type(of: first)) == ObjectIdentifier(L.self) {
            // invariant: its dynamic type is L.
            return unsafeDowncast(first, to: L.self)
        }
        return layers.withLock { Self.first(L.self, in: $0) }
    }

    /// The layer of type `L`, attached by `make` if there was none yet.
    package func layer<L: NodeLayer>(_ type: L.Type, orAttach make: () -> L) -> L {
        layers.withLock { layers in
            if let found = Self.first(L.self, in: layers) { return found }
            let made = make()
            layers.append(made)
            return made
        }
    }

    private static func first<L: NodeLayer>(_ type: L.Type, in layers: [any NodeLayer]) -> L? {
        for layer in layers {
            if let found = layer as? L { return found }
        }
        return nil
    }

    /// The attached layers, in the order they were attached.
    package var attachedLayers: [any NodeLayer] { layers.withLock { $0 } }

    /// The scheduler whose turn it is to take a spread-out process: the
    /// schedulers take turns, skipping those the balancer parked.
    package func spreadTarget(among peers: [PeerScheduler]) -> Scheduler {
        let turn = nextSpread.wrappingAdd(1, ordering: .relaxed).oldValue
        for step in 0..<peers.count {
            let candidate = peers[(turn &+ step) % peers.count].scheduler
            if !candidate.parked.load(ordering: .relaxed) { return candidate }
        }
        return peers[turn % peers.count].scheduler
    }

    /// Reserves `count` consecutive pid serials; returns the first.
    package func reserveSerials(_ count: UInt64) -> UInt64 {
        nextSerial.wrappingAdd(count, ordering: .relaxed).oldValue
    }

    /// A fresh node-unique number for monitor and timer references.
    package func makeReference() -> UInt64 {
        nextRef.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    package var deadLetterCount: Int { deadLetters.load(ordering: .relaxed) }

    @usableFromInline
    package func countDeadLetter() {
        deadLetters.wrappingAdd(1, ordering: .relaxed)
    }

    /// Counts an undeliverable envelope; a call in it fails with `noProcess`.
    @usableFromInline
    package func deadLetter<M>(_ envelope: Envelope<M>, to pid: Pid) {
        switch envelope {
        case .call(_, let slot): slot.complete(.failure(.noProcess(pid.description)))
        case .message: countDeadLetter()
        case .committed(let mail):
            mail.slot?.complete(.failure(.noProcess(pid.description)))
            countDeadLetter()
        case .signal, .stop: break
        }
    }

    // MARK: Names

    /// Registers `cell` as `name`; with `replacingSamePid`, a name held by
    /// another cell of the same pid (a durable process's stand-in while it
    /// was passivated) is taken over.
    package func register(_ name: String, _ cell: ProcessCell, replacingSamePid: Bool = false) throws(NameError) {
        // invariant: names change on the owner's thread, where its relations live.
        let relations = cell.relationsForUpdate
        if let existing = relations.name { throw .alreadyNamed(cell.pid, existing) }
        guard cell.status == .alive else { throw .notAlive(cell.pid) }
        let holder: Pid? = names.withLock { table in
            // A process frees its name under this lock as it exits, so an entry is a live holder.
            if let other = table[name], !(replacingSamePid && other.pid == cell.pid) { return other.pid }
            table[name] = cell
            return nil
        }
        if let holder { throw .taken(name, by: holder) }
        relations.name = name
    }

    package func unregister(_ cell: ProcessCell) {
        guard let name = cell.relations?.name else { return }
        cell.relations?.name = nil
        names.withLock { table in
            if table[name] === cell { table[name] = nil }
        }
    }

    /// Hands `name` to `cell`, which has the pid of its holder (a durable
    /// process's stand-in as it is passivated), without touching relations.
    package func reregister(_ name: String, _ cell: ProcessCell) {
        names.withLock { table in
            if let holder = table[name], holder.pid == cell.pid { table[name] = cell }
        }
    }

    /// Gives free `name` to `cell` without its relations (a durable
    /// process's stand-in while it is passivated, at a node start).
    package func hold(_ name: String, _ cell: ProcessCell) {
        names.withLock { table in
            if table[name] == nil { table[name] = cell }
        }
    }

    package func whereis(_ name: String) -> ProcessCell? {
        names.withLock { $0[name] }
    }

    /// The address registered as `name` if its messages are of type `M`.
    @usableFromInline
    package func lookup<M>(_ name: String) -> Address<M>? {
        guard let cell = whereis(name) as? MailboxCell<M> else { return nil }
        return Address(cell: cell)
    }

    package var registeredNames: [String: Pid] {
        names.withLock { $0.mapValues(\.pid) }
    }
}

/// A layer, as `NodeCore` keeps its first one for reading without a lock.
private final class AttachedLayer: Sendable {
    let layer: any NodeLayer
    init(_ layer: any NodeLayer) { self.layer = layer }
}
