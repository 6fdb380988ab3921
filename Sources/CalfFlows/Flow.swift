import Calf

/// A durable async program: straight-line `async` Swift whose every step
/// (a sleep, an effect, a callback, a signal) is journaled as it runs, so
/// that it can wait for days, survive `kill -9` at any instant and resume
/// where it was. It runs as a durable process (`FlowProcess`) whose events
/// are journaled messages; its code runs only inside that process's turns,
/// on a deterministic executor (`FlowExecutor`).
///
/// The rules of determinism: read time and randomness from the
/// `FlowContext` (`flow.now`, `flow.random`), never from the system; await
/// only the context's steps (never `Task.sleep`, an actor, a callback API or
/// I/O: such an await parks the flow as diverged, naming the last step);
/// change the code of running flows only behind `flow.patched(_:)`.
///
/// ```swift
/// struct Greeter: Flow {
///     static let version = 1
///     func run(_ name: String, flow: FlowContext) async throws -> String {
///         try await flow.sleep(for: .seconds(3600 * 24))
///         return "hello, \(name), a day later"
///     }
/// }
/// ```
public protocol Flow: Codable, Sendable {
    /// What a flow starts from (journaled with its start).
    associatedtype Input: Codable & Sendable
    /// What it ends with (kept in its log).
    associatedtype Output: Codable & Sendable

    /// The flow type's name, as HTTP and the shell know it. Default: the type's name.
    static var flowName: String { get }
    /// The version of its code: a flow runs on the version it started with
    /// (the node must still have that version to go on with it).
    static var version: Int { get }
    /// The effect types its steps ask for (`FlowContext.perform`). Default: none.
    static var effects: [any DurableEffect.Type] { get }

    /// The flow's code.
    func run(_ input: Input, flow: FlowContext) async throws -> Output
}

extension Flow {
    /// The type's name.
    public static var flowName: String { String(describing: Self.self) }
    /// None.
    public static var effects: [any DurableEffect.Type] { [] }
}
