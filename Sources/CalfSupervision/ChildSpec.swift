import CalfStore
import CalfControl
import CalfRuntime
import CalfDurable

/// When a supervisor restarts a child that ended (OTP's `restart` of a child spec).
public enum ChildRestart: String, Sendable, Codable, CaseIterable {
    /// Always restarted.
    case permanent
    /// Restarted only after an abnormal exit (not `normal` or `shutdown`).
    case transient
    /// Never restarted; its spec is dropped when it ends.
    case temporary
}

/// How a supervisor stops a child (OTP's `shutdown` of a child spec).
public enum ChildShutdown: Sendable, Equatable, CustomStringConvertible {
    /// Killed at once (reason `killed`, cannot be trapped).
    case brutalKill
    /// Sent an exit signal `shutdown`; killed if still alive after the duration.
    case timeout(Duration)
    /// Sent an exit signal `shutdown` and waited for, however long it takes
    /// (the default for supervisors).
    case infinity

    public var description: String {
        switch self {
        case .brutalKill: "brutalKill"
        case .timeout(let duration): "timeout(\(duration))"
        case .infinity: "infinity"
        }
    }
}

/// Whether a child is a worker or a supervisor (OTP's `type`).
public enum ChildKind: String, Sendable, Codable {
    /// A process doing work.
    case worker
    /// A supervisor of its own children.
    case supervisor
}

/// How a restarted durable child gets its state back.
public enum RestartMode: String, Sendable, Codable {
    /// From its last snapshot and a replay of its journal (durable default).
    case replay
    /// From its initial state, as a new process (OTP's classic restart;
    /// what a transient child always gets).
    case fresh
}

/// What a child's start function did.
public enum ChildStartResult: Sendable {
    /// It started this process, linked to the supervisor.
    case started(ChildProcess)
    /// It chose not to start (OTP's `ignore`): the spec is kept without a process.
    case ignore
}

/// A started child process, whatever its message type.
public struct ChildProcess: Sendable {
    package let cell: ProcessCell

    /// The child at `address`.
    public init<M>(_ address: Address<M>) { cell = address.cell }

    /// Its pid.
    public var pid: Pid { cell.pid }
}

/// How a durable supervisor journals the arguments of its dynamic children
/// (so they start again after a node restart).
public struct ArgumentCoding: Sendable {
    /// Encodes arguments given to `startChild(with:)`.
    public let encode: @Sendable (any Sendable) throws -> [UInt8]
    /// Decodes them back.
    public let decode: @Sendable ([UInt8]) throws -> any Sendable

    /// Arguments of type `A`, in the journal's binary coding.
    public static func codable<A: Codable & Sendable>(_: A.Type) -> ArgumentCoding {
        ArgumentCoding(
            encode: { arguments in
                guard let typed = arguments as? A else {
                    throw SupervisorError.badArguments(expected: String(describing: A.self), got: String(describing: type(of: arguments)))
                }
                return try BinaryEncoder().encode(typed)
            },
            decode: { bytes in try BinaryDecoder().decode(A.self, from: bytes) })
    }
}

/// Starts one child; it runs on the supervisor's thread, inside the supervisor.
public typealias ChildStart = @Sendable (inout ChildStartContext) throws -> ChildStartResult

/// A child of a supervisor: how to start it and what to do when it ends
/// (OTP's child spec).
///
/// ```swift
/// ChildSpec.worker("cache") { Cache() }
/// ChildSpec.worker("flaky", restart: .transient, backoff: Backoff(initial: .milliseconds(10), maximum: .seconds(1))) { Flaky() }
/// ```
public struct ChildSpec: Sendable {
    /// Unique among its supervisor's children.
    public var id: String
    /// Starts the child.
    public var start: ChildStart
    /// When it is restarted.
    public var restart: ChildRestart
    /// How it is stopped.
    public var shutdown: ChildShutdown
    /// Worker or supervisor.
    public var kind: ChildKind
    /// How a durable child gets its state back on a restart.
    public var mode: RestartMode
    /// Delays between restarts of a crash loop (nil: restart at once, as OTP).
    public var backoff: Backoff?
    /// The behavior's name, for inspection.
    public var behavior: String
    /// For a template: how its arguments are journaled (a durable
    /// `simpleOneForOne` supervisor needs it).
    public var argumentCoding: ArgumentCoding?
    /// Where the child runs (for a template: every child of the pool).
    /// Spread out by default, so a big pool does not sit on its
    /// supervisor's scheduler. A durable child, a port and a supervisor
    /// stay on their supervisor's scheduler whatever this says.
    public var placement: Placement = .spread

    /// This spec with its children placed by `placement`.
    public func placed(_ placement: Placement) -> ChildSpec {
        var copy = self
        copy.placement = placement
        return copy
    }

    /// A child started by `start`.
    public init(
        id: String, restart: ChildRestart = .permanent, shutdown: ChildShutdown = .timeout(.seconds(5)),
        kind: ChildKind = .worker, mode: RestartMode = .replay, backoff: Backoff? = nil,
        behavior: String = "", argumentCoding: ArgumentCoding? = nil, start: @escaping ChildStart
    ) {
        self.argumentCoding = argumentCoding
        self.id = id
        self.start = start
        self.restart = restart
        self.shutdown = shutdown
        self.kind = kind
        self.mode = mode
        self.backoff = backoff
        self.behavior = behavior
    }

    /// Why this child cannot be started, or nil (OTP's `check_childspec`):
    /// a negative shutdown time (`invalid_shutdown`), a bad backoff.
    package func problem() -> String? {
        if case .timeout(let limit) = shutdown, limit < .zero {
            return "child '\(id)': its shutdown time \(limit) is negative (OTP: invalid_shutdown); use brutalKill to kill at once"
        }
        if let problem = backoff?.problem { return "child '\(id)': \(problem)" }
        return nil
    }

    /// A worker running the behavior `make` returns (called for every start).
    public static func worker<B: Behavior>(
        _ id: String, restart: ChildRestart = .permanent, shutdown: ChildShutdown = .timeout(.seconds(5)),
        backoff: Backoff? = nil, _ make: @escaping @Sendable () throws -> B
    ) -> ChildSpec {
        ChildSpec(id: id, restart: restart, shutdown: shutdown, backoff: backoff, behavior: String(describing: B.self)) { context in
            .started(ChildProcess(try context.spawn(make())))
        }
    }

    /// A template for a `simpleOneForOne` supervisor: each `startChild(with:)`
    /// hands its arguments (of type `A`) to `make`.
    public static func template<A: Sendable, B: Behavior>(
        _ id: String, restart: ChildRestart = .permanent, shutdown: ChildShutdown = .timeout(.seconds(5)),
        backoff: Backoff? = nil, _ make: @escaping @Sendable (A) throws -> B
    ) -> ChildSpec {
        anyTemplate(id, restart: restart, shutdown: shutdown, backoff: backoff, make)
    }

    private static func anyTemplate<A: Sendable, B: Behavior>(
        _ id: String, restart: ChildRestart, shutdown: ChildShutdown, backoff: Backoff?, _ make: @escaping @Sendable (A) throws -> B
    ) -> ChildSpec {
        ChildSpec(id: id, restart: restart, shutdown: shutdown, backoff: backoff, behavior: String(describing: B.self)) { context in
            .started(ChildProcess(try context.spawn(make(context.arguments(as: A.self)))))
        }
    }

    /// A template whose arguments are `Codable`: usable under a durable
    /// `simpleOneForOne` supervisor, which journals them.
    public static func template<A: Codable & Sendable, B: Behavior>(
        _ id: String, restart: ChildRestart = .permanent, shutdown: ChildShutdown = .timeout(.seconds(5)),
        backoff: Backoff? = nil, _ make: @escaping @Sendable (A) throws -> B
    ) -> ChildSpec {
        var spec = anyTemplate(id, restart: restart, shutdown: shutdown, backoff: backoff, make)
        spec.argumentCoding = .codable(A.self)
        return spec
    }

    /// A supervisor child running `spec` (shutdown `infinity`, as OTP's default for supervisors).
    public static func supervisor(
        _ spec: SupervisorSpec, restart: ChildRestart = .permanent, shutdown: ChildShutdown = .infinity
    ) -> ChildSpec {
        ChildSpec(id: spec.id, restart: restart, shutdown: shutdown, kind: .supervisor, behavior: "Supervisor") { context in
            let path = context.supervisorPath + "/" + spec.id
            return .started(ChildProcess(try context.spawn(Supervisor(spec, parent: context.supervisor, path: path))))
        }
    }
}

/// What a child's start function may use: the arguments of a dynamic start
/// and spawning linked to the supervisor.
public struct ChildStartContext {
    @usableFromInline package unowned(unsafe) let supervisorCell: ProcessCell
    /// The arguments given to `startChild(with:)` of a `simpleOneForOne` supervisor.
    public let arguments: (any Sendable)?
    /// The supervisor's path from the root: supervisor ids joined by `/`.
    public let supervisorPath: String
    /// The child's number within its supervisor (for a dynamic child of a
    /// durable supervisor, the same after a node restart).
    public let key: UInt64
    /// The child spec's backoff (a durable child's restarts in place wait by it).
    public let backoff: Backoff?
    /// Where the child spec places the child.
    public let placement: Placement

    package init(supervisor: ProcessCell, path: String, key: UInt64, arguments: (any Sendable)?, backoff: Backoff? = nil, placement: Placement = .local) {
        supervisorCell = supervisor
        supervisorPath = path
        self.key = key
        self.arguments = arguments
        self.backoff = backoff
        self.placement = placement
    }

    /// The supervisor's pid.
    public var supervisor: Pid { supervisorCell.pid }

    /// The arguments of a dynamic start, as an `A`.
    /// - Throws: `SupervisorError.badArguments` when they are something else (or none).
    public func arguments<A>(as _: A.Type) throws(SupervisorError) -> A {
        guard let typed = arguments as? A else {
            throw .badArguments(expected: String(describing: A.self), got: arguments.map { String(describing: type(of: $0)) } ?? "none")
        }
        return typed
    }

    /// Spawns `behavior` linked to the supervisor and runs its start
    /// callbacks (on the supervisor's scheduler); then it goes where the
    /// child spec's `placement` says.
    /// - Throws: `SpawnError` when it fails to start.
    @inlinable
    public func spawn<B: Behavior>(_ behavior: B) throws -> Address<B.Message> {
        try supervisorCell.scheduler.start(behavior, linkedTo: supervisorCell, placement: placement)
    }

    /// Spawns `behavior` as `spawn` does and registers it as `name`.
    /// - Throws: `SpawnError` when it fails to start, `NameError` when the name is taken (the process is killed).
    public func spawn<B: Behavior>(_ behavior: B, registeredAs name: String) throws -> Address<B.Message> {
        let address = try spawn(behavior)
        do throws(NameError) {
            try supervisorCell.scheduler.node.register(name, address.cell)
        } catch {
            supervisorCell.scheduler.unlink(supervisorCell, address.cell)
            supervisorCell.scheduler.kill(address.cell)
            throw error
        }
        return address
    }
}
