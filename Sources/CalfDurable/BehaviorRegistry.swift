import CalfControl
import CalfRuntime

/// The behaviors a program hands to calf's commands: what its tree files
/// may name.
public struct BehaviorRegistry: Sendable {
    /// Durable behaviors (journaled; a node rebuilds them after a restart).
    public var durable: [any DurableBehavior.Type]
    /// Transient behaviors a tree file can configure.
    public var transient: [any ConfiguredBehavior.Type]

    /// A registry of these behaviors.
    public init(durable: [any DurableBehavior.Type] = [], transient: [any ConfiguredBehavior.Type] = []) {
        self.durable = durable
        self.transient = transient
    }

    /// The registries of both, together.
    public static func + (lhs: BehaviorRegistry, rhs: BehaviorRegistry) -> BehaviorRegistry {
        BehaviorRegistry(durable: lhs.durable + rhs.durable, transient: lhs.transient + rhs.transient)
    }
}
