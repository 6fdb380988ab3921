import CalfControl
import CalfRuntime
import CalfDurable

/// How a supervisor restarts its children when one ends (OTP's strategies).
public enum RestartStrategy: String, Sendable, Codable, CaseIterable {
    /// Only the child that ended is restarted.
    case oneForOne
    /// Every child is stopped (in reverse start order) and all are started again.
    case oneForAll
    /// The child that ended and the children started after it are stopped
    /// and started again.
    case restForOne
    /// Children are dynamic instances of one template, started on demand
    /// with `startChild(with:)`; each is restarted alone.
    case simpleOneForOne
}

/// A supervisor: its strategy, its restart intensity and its children.
///
/// ```swift
/// let tree = SupervisorSpec("root", strategy: .oneForOne, intensity: 3, period: .seconds(5)) {
///     ChildSpec.worker("cache") { Cache() }
///     SupervisorSpec("pipeline", strategy: .restForOne) {
///         ChildSpec.worker("reader") { Reader() }
///         ChildSpec.worker("writer") { Writer() }
///     }
/// }
/// let root = try await node.startSupervisor(tree)
/// ```
public struct SupervisorSpec: Sendable {
    /// Its id among its parent's children (and its registered name when `register` is set).
    public var id: String
    /// The restart strategy.
    public var strategy: RestartStrategy
    /// At most this many restarts within `period`; one more and the
    /// supervisor stops its children and exits (reason `shutdown`), for its
    /// own supervisor to handle. Zero or more: a negative intensity is
    /// refused when the supervisor starts (OTP's `invalid_intensity`).
    public var intensity: Int
    /// The window of `intensity`.
    public var period: Duration
    /// The children in start order (for `simpleOneForOne`, exactly one template).
    public var children: [ChildSpec]
    /// Registers the supervisor process under `id`.
    public var register: Bool
    /// Journals its children's restarts, its restart history, terminated and
    /// deleted children and its dynamic children, so that it comes back the
    /// same after a node restart (needs a node with a data directory; its
    /// path from the root names it in the journal).
    public var durable: Bool
    /// Writes a line to stderr for each child that exits abnormally (OTP's
    /// supervisor report); off for benchmarks.
    public var reportsCrashes = true
    /// For `simpleOneForOne`: dynamic children started with these arguments
    /// when the supervisor first starts (a durable supervisor starts them
    /// once, then brings back what it journaled).
    public var startWith: [any Sendable] = []

    /// Makes a spec; OTP's defaults are intensity 1 in 5 seconds.
    public init(
        _ id: String, strategy: RestartStrategy = .oneForOne, intensity: Int = 1, period: Duration = .seconds(5),
        register: Bool = false, durable: Bool = false, children: [ChildSpec]
    ) {
        self.id = id
        self.durable = durable
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
        self.children = children
        self.register = register
    }

    /// Makes a spec with its children declared in a block.
    public init(
        _ id: String, strategy: RestartStrategy = .oneForOne, intensity: Int = 1, period: Duration = .seconds(5),
        register: Bool = false, durable: Bool = false, @ChildrenBuilder children: () -> [ChildSpec]
    ) {
        self.init(id, strategy: strategy, intensity: intensity, period: period, register: register, durable: durable, children: children())
    }

    /// Why this spec cannot run, or nil (OTP's `check_flags` and
    /// `check_childspecs`: a bad tree is refused whole, before anything starts).
    package func problem() -> SupervisorError? {
        if intensity < 0 { return .invalidSpec("\(id): the intensity must be zero or more, not \(intensity) (OTP: invalid_intensity)") }
        var seen: Set<String> = []
        for child in children {
            guard seen.insert(child.id).inserted else { return .invalidSpec("\(id): child id '\(child.id)' appears twice") }
            if let problem = child.problem() { return .invalidSpec("\(id): \(problem)") }
        }
        if strategy == .simpleOneForOne, children.count != 1 {
            return .invalidSpec("\(id): a simpleOneForOne supervisor has exactly one child template, not \(children.count)")
        }
        if period <= .zero { return .invalidSpec("\(id): the period must be positive") }
        if durable, strategy == .simpleOneForOne, children.first?.argumentCoding == nil {
            return .invalidSpec("\(id): a durable simpleOneForOne supervisor journals its children's arguments: its template needs Codable arguments (ChildSpec.template with Codable arguments, or ChildSpec.durableTemplate)")
        }
        if !startWith.isEmpty, strategy != .simpleOneForOne {
            return .invalidSpec("\(id): startWith is for a simpleOneForOne supervisor's dynamic children")
        }
        if id.contains("/") { return .invalidSpec("\(id): a supervisor id cannot contain '/' (it separates the ids of a path)") }
        return nil
    }
}

/// Declares a supervisor's children in a block: child specs and nested
/// supervisor specs, with `if`, `for` and `switch`.
@resultBuilder
public enum ChildrenBuilder {
    /// A child.
    public static func buildExpression(_ child: ChildSpec) -> [ChildSpec] { [child] }
    /// A nested supervisor, as a child with shutdown `infinity`.
    public static func buildExpression(_ supervisor: SupervisorSpec) -> [ChildSpec] { [.supervisor(supervisor)] }
    /// Several children.
    public static func buildExpression(_ children: [ChildSpec]) -> [ChildSpec] { children }
    /// The children of a block, in order.
    public static func buildBlock(_ parts: [ChildSpec]...) -> [ChildSpec] { parts.flatMap { $0 } }
    /// An `if` without `else`.
    public static func buildOptional(_ part: [ChildSpec]?) -> [ChildSpec] { part ?? [] }
    /// The first branch of an `if`/`else` or `switch`.
    public static func buildEither(first: [ChildSpec]) -> [ChildSpec] { first }
    /// The second branch of an `if`/`else` or `switch`.
    public static func buildEither(second: [ChildSpec]) -> [ChildSpec] { second }
    /// A `for` loop.
    public static func buildArray(_ parts: [[ChildSpec]]) -> [ChildSpec] { parts.flatMap { $0 } }
}
